"""Local receivers for notification tests, on 127.0.0.1 only.

HttpSink: a Starlette app under uvicorn that records every request and answers from a
per-path script of faults ("500", "429:2" = 429 with Retry-After 2, "400", "slow:3" = answer
after 3 s) before falling back to the path's normal answer.
SmtpSink: an aiosmtpd server that records every message, with scripted replies to DATA
("451", "550", "slow:3"), optional AUTH and optional STARTTLS or implicit TLS.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from waiting import aeventually, eventually


@dataclass
class Seen:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    at: float
    fault: str | None = None
    status: int = 0  # what the sink answered (0: not yet)

    def json(self):
        import json
        return json.loads(self.body)


class HttpSink:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.scripts: dict[str, list[str]] = {}
        self.normal: dict[str, tuple[int, str]] = {}
        self.released = threading.Event()  # ends every "hold" fault
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "PUT", "GET"])])
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="off",
                                                     timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> "HttpSink":
        self._thread.start()
        eventually(lambda: self._server.started or not self._thread.is_alive(), "the HTTP sink's server starts")
        assert self._server.started, "the HTTP sink's server ended before it started"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)

    def reset(self) -> None:
        self.requests.clear()
        self.scripts.clear()
        self.released = threading.Event()  # a new one: a hold released before the reset still ends

    def script(self, path: str, *faults: str) -> None:
        self.scripts.setdefault(path, []).extend(faults)

    def release(self) -> None:
        self.released.set()

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Seen]:
        """Requests that got the normal answer (not a scripted fault)."""
        return [r for r in self.seen(path) if r.fault is None]

    def accepted(self, path: str) -> list[Seen]:
        """Requests answered 2xx (a scripted fault or a failing normal answer is not)."""
        return [r for r in self.seen(path) if 200 <= r.status < 300]

    def failures(self, path: str) -> int:
        return len([r for r in self.seen(path) if r.fault is not None])

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        script = self.scripts.get(path)
        fault = script.pop(0) if script else None
        seen = Seen(path, request.method, dict(request.headers), body, time.monotonic(), fault)
        self.requests.append(seen)
        response = await self._answer(request, path, body, fault)
        seen.status = response.status_code
        return response

    async def _answer(self, request: Request, path: str, body: bytes, fault: str | None) -> Response:
        if fault:
            kind, _, arg = fault.partition(":")
            if kind == "echo":  # a careless receiver quoting the request in its error page
                text = f"bad request to {request.url.path}?{request.url.query} headers={dict(request.headers)} body={body!r}"
                return Response(text, 500)
            if kind == "slow":
                await asyncio.sleep(float(arg))  # the fault under test: a receiver that stalls, not a wait
            elif kind == "hold":  # answer only once the test calls release() (at most 30 s)
                released = self.released
                with contextlib.suppress(AssertionError):  # never released: the test failed; answer anyway
                    await aeventually(released.is_set, "the test releases the held answer", timeout=30)
            elif kind == "429":
                return Response('{"status":"throttle"}', 429, {"Retry-After": arg or "1"}, media_type="application/json")
            else:
                return Response(f'{{"error":"scripted {kind}"}}', int(kind), media_type="application/json")
        status, text = self.normal.get(path, (200, "ok"))
        return Response(text, status)


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        fault = self.sink.script.pop(0) if self.sink.script else None
        if fault and fault.startswith("slow"):
            await asyncio.sleep(float(fault.partition(":")[2]))  # the fault under test: a stalling server
            return "451 4.3.0 too slow"  # the client has given up by now
        elif fault == "echo":  # a careless server quoting the session, credentials included
            return f"451 4.3.0 cannot deliver for {session.auth_data!r}"
        elif fault == "451":
            return "451 4.3.0 try again later"
        elif fault == "550":
            return "550 5.1.1 mailbox unavailable"
        self.sink.messages.append(SmtpMessage(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                              getattr(session, "auth_data", None),
                                              session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None))
        return "250 OK"


@dataclass
class SmtpMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: object
    tls: bool
    parsed: object = field(init=False)

    def __post_init__(self) -> None:
        self.parsed = message_from_bytes(self.raw, policy=policy.default)


class SmtpSink:
    """`security`: none | starttls | tls (needs `cert`: (certfile, keyfile))."""

    def __init__(self, security: str = "none", users: dict[str, str] | None = None,
                 cert: tuple[str, str] | None = None) -> None:
        import ssl
        self.messages: list[SmtpMessage] = []
        self.script: list[str] = []
        self.logins: list[str] = []
        self.port = free_port()
        kwargs: dict = {}
        if users is not None:
            def auth(server, session, envelope, mechanism, data):
                ok = users.get(data.login.decode()) == data.password.decode()
                if ok:
                    self.logins.append(data.login.decode())
                return AuthResult(success=ok)
            # aiosmtpd only counts STARTTLS as TLS for AUTH; implicit TLS is TLS from the first byte
            kwargs.update(authenticator=auth, auth_require_tls=security == "starttls")
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*cert)
            if security == "starttls":
                kwargs.update(tls_context=ctx, require_starttls=True)
            elif security == "tls":
                kwargs.update(ssl_context=ctx)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 (also its own CA): (certfile, keyfile)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return str(certfile), str(keyfile)
