"""The notifier's HTTP client: HTTP/1.1 over the event loop's transports, keep-alive
connection pools, answers parsed by httptools (the C parser uvicorn uses).

Why not a general client: notifications are the one place where the engine sends
thousands of requests a second, and the client was most of the notifier's CPU. Against a
local sink (bench/notify.py), per request: httpx ~2.4 ms (first version), aiohttp
~0.10 ms, this ~0.02 ms. A request is one write of the head and body on a pooled
connection and one future resolved by the parser.

What it does: any method with a body; http and https (the system's trust store, SNI, the
ssl module's default context); user:password in the URL becomes Basic auth (as clients
do); up to `pool_per_host` connections per (scheme, host, port), the most recently used
first, an idle one dropped after KEEPALIVE seconds; a request sent on a reused
connection that the receiver had closed meanwhile (not a byte of an answer) goes once
more on a new one, as browsers do. The whole exchange (waiting for a connection,
connecting, the answer) is bounded by `timeout`; a connection whose exchange did not end
cleanly is closed, never reused. At most BODY_KEPT bytes of an answer are kept (the log
needs the start of an error page), the rest is read and dropped.

What it does not: redirects (a channel's final URL is configuration), proxies from the
environment (the channel's URL says where to go), compression (no Accept-Encoding is
sent), HTTP/2, 100-continue.
"""
from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote, unquote, urlsplit

import httptools

POOL_PER_HOST = 64  # connections per receiver
KEEPALIVE = 15.0  # seconds an idle connection is kept (receivers close theirs after 5 s to minutes)
BODY_KEPT = 64 * 1024  # bytes of an answer kept
_SAFE_PATH = "/%:@!$&'()*+,;=-._~?"  # characters a request target may hold as they are (RFC 3986)


class TransportError(Exception):
    """The request did not get an answer (connection refused or reset, DNS, TLS)."""


class Timeout(Exception):
    """No answer within the channel's timeout."""


class Headers(dict):
    """An answer's headers; names lower-cased, looked up in any case."""

    def get(self, name: str, default=None):  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: Mapping[str, str]
    text: str


@dataclass(frozen=True)
class _Target:
    """A URL taken apart once: where to connect and what the request line says."""

    key: tuple[str, str, int]  # scheme, host, port
    host_header: str
    path: str
    authorization: str | None

    @classmethod
    def of(cls, url: str) -> "_Target":
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {parts.scheme or '?'}://{parts.hostname or '?'}")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError as exc:  # a port that is not a number
            raise TransportError(str(exc)) from None
        host = parts.hostname
        try:
            host.encode("ascii")
        except UnicodeEncodeError:
            host = host.encode("idna").decode("ascii")
        shown = f"[{host}]" if ":" in host else host
        if port != (443 if scheme == "https" else 80):
            shown += f":{port}"
        path = quote(parts.path or "/", safe=_SAFE_PATH)
        if parts.query:
            path += "?" + quote(parts.query, safe=_SAFE_PATH)
        auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        return cls((scheme, host, port), shown, path, auth)


class _Lost(Exception):
    """The connection ended before a whole answer; `answered`: some of it had come."""

    def __init__(self, answered: bool, cause: BaseException | None) -> None:
        super().__init__(cause)
        self.answered = answered
        self.cause = cause


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answered = False
        self._reason = bytearray()
        self._headers = Headers()
        self._body = bytearray()
        self._headers_done = False

    # -- the exchange --
    def exchange(self, data: bytes) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        self._answered = self._headers_done = False
        self._reason, self._headers, self._body = bytearray(), Headers(), bytearray()
        assert self.transport is not None  # exchanges run on connected protocols only (the pool's)
        self.transport.write(data)
        return self.waiter

    def clean(self) -> bool:
        """Ready for another exchange."""
        return not self.closed and self.waiter is None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol --
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self._answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._end(exception=TransportError(f"not an HTTP answer ({exc})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None:
            if self._headers_done and self._headers.get("content-length") is None \
                    and "chunked" not in self._headers.get("transfer-encoding", "").lower():
                self._end(reply=self._reply())  # an answer without a length ends with the connection
            else:
                self._end(exception=_Lost(self._answered, exc))

    # -- httptools callbacks --
    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        known = dict.get(self._headers, key)
        dict.__setitem__(self._headers, key, text if known is None else f"{known}, {text}")

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        room = BODY_KEPT - len(self._body)
        if room > 0:
            self._body += body[:room]

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.close()
        self._end(reply=self._reply())

    # --
    def _reply(self) -> Reply:
        return Reply(self.parser.get_status_code(), self._reason.decode("latin-1"), self._headers,
                     self._body[:4096].decode("utf-8", "replace"))

    def _end(self, reply: Reply | None = None, exception: BaseException | None = None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if exception is not None:
            waiter.set_exception(exception)
        else:
            waiter.set_result(reply)


class _Pool:
    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self.idle: deque[_Connection] = deque()

    def take(self, now: float) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.clean() and now - conn.idle_since < KEEPALIVE:
                return conn
            conn.close()
        return None

    def give(self, conn: _Connection, now: float) -> None:
        conn.idle_since = now
        self.idle.append(conn)
        while self.idle and (self.idle[0].closed or now - self.idle[0].idle_since >= KEEPALIVE):
            self.idle.popleft().close()


class HttpClient:
    """Made inside the notifier's event loop; `close()` there too."""

    def __init__(self, pool_per_host: int = POOL_PER_HOST) -> None:
        self._size = pool_per_host
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, content: bytes, headers: Mapping[str, str],
                      timeout: float) -> Reply:
        target = self._targets.get(url)
        if target is None:
            target = _Target.of(url)
            if len(self._targets) > 1000:  # URLs come from the config: a handful
                self._targets.clear()
            self._targets[url] = target
        data = _head(method, target, headers, content) + content
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(target, data)
        except TimeoutError:
            raise Timeout(f"no answer within {timeout:g}s") from None

    async def _exchange(self, target: _Target, data: bytes) -> Reply:
        pool = self._pools.get(target.key)
        if pool is None:
            pool = self._pools[target.key] = _Pool(self._size)
        async with pool.slots:
            conn = pool.take(time.monotonic())
            while True:
                reused = conn is not None
                if conn is None:
                    conn = await self._open(target)
                try:
                    reply = await conn.exchange(data)
                except _Lost as lost:
                    if reused and not lost.answered:  # it had been closed while idle: once more, on a new one
                        conn = None
                        continue
                    detail = f"{type(lost.cause).__name__}: {lost.cause}" if lost.cause else "no answer"
                    raise TransportError(f"the connection closed before a whole answer ({detail})") from None
                finally:
                    if conn is not None and not conn.clean():
                        conn.close()  # cancelled (the timeout) or broken mid-exchange
                if conn.clean():
                    pool.give(conn, time.monotonic())
                return reply

    async def _open(self, target: _Target) -> _Connection:
        scheme, host, port = target.key
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                _Connection, host, port, ssl=tls, server_hostname=host if tls else None)
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise TransportError(f"cannot connect to {target.host_header} ({type(exc).__name__}: {exc})") from None
        return conn

    async def close(self) -> None:
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop().close()
        self._pools.clear()


def _head(method: str, target: _Target, headers: Mapping[str, str], content: bytes) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    names = set()
    for name, value in headers.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value or ":" in name:
            raise ValueError(f"header {name!r}: names and values may not hold line breaks (or a colon in a name)")
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if target.authorization and "authorization" not in names:
        lines.append(f"Authorization: {target.authorization}")
    if "accept" not in names:
        lines.append("Accept: */*")
    if content or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {len(content)}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")
