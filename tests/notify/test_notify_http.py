"""The notifier's HTTP client (engine/notify/http.py) against raw local servers: keep-alive
reuse, a connection the receiver closed while idle, answers framed every way HTTP/1.1
allows, broken answers, TLS, a URL's credentials, timeouts."""
from __future__ import annotations

import asyncio
import base64
import ssl

import pytest

from opsconductor.engine.notify.http import HttpClient, Timeout, TransportError

from notify_sinks import self_signed


class RawServer:
    """Reads one request at a time on each connection and answers with the next of
    `answers` (bytes; None = close the connection without answering; "hang" = never answer).
    `close_after`: close each connection after that many answers."""

    def __init__(self, answers: list, close_after: int | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append((head, await reader.readexactly(length)))
                answer = self.answers.pop(0)
                if answer == "hang":
                    await asyncio.sleep(3600)  # the fault under test: a server that never answers
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                answered += 1
                if self.close_after is not None and answered >= self.close_after:
                    return
        finally:
            writer.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def run(coro):
    return asyncio.run(coro)


def test_keep_alive_reuses_one_connection() -> None:
    async def main():
        async with RawServer([OK] * 3) as server:
            client = HttpClient()
            replies = [await client.request("POST", f"http://127.0.0.1:{server.port}/hook?a=1", b'{"n": %d}' % i,
                                            {"Content-Type": "application/json"}, 5) for i in range(3)]
            await client.close()
            return server, replies

    server, replies = run(main())
    assert [(r.status, r.reason, r.text) for r in replies] == [(200, "OK", "ok")] * 3
    assert server.connections == 1
    head, body = server.requests[2]
    assert head.startswith(b"POST /hook?a=1 HTTP/1.1\r\n") and f"Host: 127.0.0.1:{server.port}".encode() in head
    assert body == b'{"n": 2}'


def test_a_connection_the_receiver_closed_while_idle_is_replaced_without_an_error() -> None:
    async def main():
        # The second request meets the close (not a byte of an answer): as if the receiver
        # had closed the idle connection just before it went out.
        async with RawServer([OK, None, OK]) as server:
            client = HttpClient()
            first = await client.request("POST", f"http://127.0.0.1:{server.port}/", b"1", {}, 5)
            second = await client.request("POST", f"http://127.0.0.1:{server.port}/", b"2", {}, 5)
            await client.close()
            return server, first, second

    server, first, second = run(main())
    assert first.status == second.status == 200
    assert [body for _, body in server.requests] == [b"1", b"2", b"2"] and server.connections == 2


@pytest.mark.parametrize("answer, text", [
    (b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nretry-after: 7\r\n\r\n"
     b"4\r\nbusy\r\n5\r\n, try\r\n0\r\n\r\n", "busy, try"),
    (b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nuntil the end", "until the end"),
    (b"HTTP/1.0 204 No Content\r\n\r\n", ""),
])
def test_answers_framed_every_way(answer, text) -> None:
    async def main():
        async with RawServer([answer, OK], close_after=1) as server:
            client = HttpClient()
            reply = await client.request("PUT", f"http://127.0.0.1:{server.port}/x", b"{}", {}, 5)
            again = await client.request("PUT", f"http://127.0.0.1:{server.port}/x", b"{}", {}, 5)
            await client.close()
            return reply, again

    reply, again = run(main())
    assert reply.text == text and again.status == 200
    if reply.status == 503:
        assert reply.headers.get("Retry-After") == "7" and reply.reason == "Service Unavailable"


def test_an_answer_cut_off_or_garbled_is_a_transport_error() -> None:
    async def main(answer):
        async with RawServer([answer], close_after=1) as server:
            client = HttpClient()
            try:
                await client.request("POST", f"http://127.0.0.1:{server.port}/", b"x", {}, 5)
            finally:
                await client.close()

    with pytest.raises(TransportError, match="closed before a whole answer"):
        run(main(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
    with pytest.raises(TransportError, match="closed before a whole answer"):
        run(main(None))
    with pytest.raises(TransportError, match="not an HTTP answer"):
        run(main(b"SMTP ready\r\n\r\n"))


def test_refused_and_not_http_urls_are_transport_errors() -> None:
    async def main(url):
        client = HttpClient()
        try:
            await client.request("POST", url, b"x", {}, 5)
        finally:
            await client.close()

    async def closed_port():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return port

    port = run(closed_port())
    with pytest.raises(TransportError, match=f"cannot connect to 127.0.0.1:{port}"):
        run(main(f"http://127.0.0.1:{port}/"))
    with pytest.raises(TransportError, match="not an http"):
        run(main("ftp://127.0.0.1/x"))


def test_no_answer_within_the_timeout() -> None:
    async def main():
        async with RawServer(["hang"]) as server:
            client = HttpClient()
            try:
                await client.request("POST", f"http://127.0.0.1:{server.port}/", b"x", {}, 0.2)
            finally:
                await client.close()

    with pytest.raises(Timeout, match="no answer within 0.2s"):
        run(main())


def test_credentials_in_the_url_are_basic_auth_and_headers_cannot_inject_lines() -> None:
    async def main():
        async with RawServer([OK]) as server:
            client = HttpClient()
            await client.request("POST", f"http://us%40er:p%3Ass@127.0.0.1:{server.port}/p", b"x", {}, 5)
            with pytest.raises(ValueError, match="line breaks"):
                await client.request("POST", f"http://127.0.0.1:{server.port}/p", b"x", {"X-A": "1\r\nX-B: 2"}, 5)
            await client.close()
            return server

    head = run(main()).requests[0][0].decode()
    assert f"Authorization: Basic {base64.b64encode(b'us@er:p:ss').decode()}\r\n" in head
    assert "us%40er" not in head


def test_https_checks_the_certificate(tmp_path, monkeypatch) -> None:
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)

    async def main():
        async with RawServer([OK, OK], tls=tls) as server:
            client = HttpClient()
            try:
                return await client.request("POST", f"https://127.0.0.1:{server.port}/", b"x", {}, 5)
            finally:
                await client.close()

    with pytest.raises(TransportError, match="cannot connect.*SSL"):
        run(main())  # not trusted
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # trusted (ssl's default verify paths)
    assert run(main()).status == 200
