"""A scriptable fake-vendor scenario shared by the vendor fakes (prtg.py, mcp.py, uisp.py).

A Scenario holds the vendor's current state (a dict the fake's routes read), an optional
script of steps (states to switch to, in order), and a queue of faults the next matching
requests get instead of the real answer: an HTML error page, a 5xx, a 429 with Retry-After,
a 401, a slow answer, a huge body, an arbitrary body (wrong types), or a page echoing the
request (URL and headers — how a careless vendor leaks credentials into an error).

Each fake is a small Starlette app. Use it in-process with `httpx.ASGITransport(app=fake.app)`,
or as a real server on 127.0.0.1 with `async with serve(fake.app) as url:` (needed for
timeouts: the ASGI transport has none).
"""
from __future__ import annotations

import asyncio
import itertools
import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from waiting import aeventually


@dataclass
class Fault:
    kind: str  # html | status | slow | huge | body | echo
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    size: int = 0
    chunked: bool = False
    path: str | None = None  # only requests whose path starts with this
    times: int = 1


def html_page(status: int = 200, path: str | None = None, times: int = 1) -> Fault:
    return Fault("html", status=status, path=path, times=times)


def server_error(status: int = 500, times: int = 1, path: str | None = None) -> Fault:
    return Fault("status", status=status, body={"error": "internal"}, times=times, path=path)


def rate_limited(retry_after: str | int = 7, times: int = 1, path: str | None = None) -> Fault:
    return Fault("status", status=429, headers={"Retry-After": str(retry_after)}, body={"error": "slow down"},
                 times=times, path=path)


def unauthorized(times: int = 1, path: str | None = None) -> Fault:
    return Fault("status", status=401, body="<prtg><error>Unauthorized</error></prtg>", times=times, path=path)


def slow(seconds: float, times: int = 1, path: str | None = None) -> Fault:
    return Fault("slow", delay=seconds, times=times, path=path)


def huge(size: int, chunked: bool = False, times: int = 1, path: str | None = None) -> Fault:
    return Fault("huge", size=size, chunked=chunked, times=times, path=path)


def body(value: Any, status: int = 200, times: int = 1, path: str | None = None) -> Fault:
    """Answer with this JSON value (or raw text/bytes) instead of the real one."""
    return Fault("body", status=status, body=value, times=times, path=path)


def echo(status: int = 400, times: int = 1, path: str | None = None) -> Fault:
    return Fault("echo", status=status, times=times, path=path)


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    json: Any = None

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


class Scenario:
    """State + script + faults + a log of the requests seen."""

    def __init__(self, steps: list[dict] | None = None, **state: Any):
        self.state: dict[str, Any] = dict(state)
        self.steps = list(steps or [])
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []

    def set(self, **state: Any) -> "Scenario":
        self.state.update(state)
        return self

    def step(self) -> "Scenario":
        """Switch to the next scripted state."""
        if self.steps:
            self.state.update(self.steps.pop(0))
        return self

    def inject(self, *faults: Fault) -> "Scenario":
        self.faults.extend(faults)
        return self

    def requests(self, path: str | None = None, method: str | None = None) -> list[Seen]:
        return [s for s in self.seen if (path is None or s.path.startswith(path)) and (method is None or s.method == method)]

    async def record(self, request: Request) -> Seen:
        raw = await request.body()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
        seen = Seen(request.method, request.url.path, list(request.query_params.multi_items()),
                    {k.lower(): v for k, v in request.headers.items()}, payload)
        self.seen.append(seen)
        return seen

    async def intercept(self, request: Request) -> Response | None:
        """The fault response for this request, if one is queued for its path."""
        await self.record(request)
        for fault in self.faults:
            if fault.path is None or request.url.path.startswith(fault.path):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return await _answer(fault, request)
        return None


async def _answer(fault: Fault, request: Request) -> Response:
    if fault.kind == "html":
        page = ("<!DOCTYPE html><html><head><title>Login - Please sign in</title></head>"
                "<body><h1>Session expired</h1></body></html>")
        return Response(page, status_code=fault.status, media_type="text/html")
    if fault.kind == "status":
        if isinstance(fault.body, (dict, list)):
            return JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
        return Response(str(fault.body or ""), status_code=fault.status, headers=fault.headers, media_type="text/xml")
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay)  # the fault under test: a vendor that answers late, not a wait
        return JSONResponse({"late": True})
    if fault.kind == "huge":
        if fault.chunked:
            async def chunks() -> AsyncIterator[bytes]:
                sent = 0
                while sent < fault.size:
                    piece = b" " * min(65536, fault.size - sent)
                    sent += len(piece)
                    yield piece
            return StreamingResponse(chunks(), media_type="application/json")
        return Response(b"[" + b"0," * (fault.size // 2) + b"0]", media_type="application/json")
    if fault.kind == "body":
        if isinstance(fault.body, (bytes, str)):
            return Response(fault.body, status_code=fault.status, media_type="application/json")
        return JSONResponse(fault.body, status_code=fault.status)
    if fault.kind == "echo":
        secrets = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "x-auth-token")}
        text = f"Bad request {secrets} {request.url.query} {request.url}"
        return Response(text, status_code=fault.status, media_type="text/plain")
    raise ValueError(f"unknown fault kind {fault.kind!r}")


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run `app` on a real uvicorn server on 127.0.0.1 (a free port) in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await aeventually(lambda: server.started or task.done(), "the fake's uvicorn starts")
        if not server.started:  # it ended before it started: its error, raised here
            task.result()
            raise AssertionError("the fake's uvicorn ended before it started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class TokenIssuer:
    """The token bookkeeping every token-auth fake shares (MCP, Milestone, Network-M2):
    credentials checked against the scenario's state, tokens issued and remembered,
    `expire_tokens()` to make the next call answer 401."""

    def __init__(self, scenario: "Scenario", token_format: str):
        self.scenario = scenario
        self._format = token_format  # e.g. "tok{:04d}c0ffee"
        self.tokens: set[str] = set()
        self._counter = itertools.count(1)
        self.logins = 0

    def credentials_ok(self, fields: dict) -> bool:
        state = self.scenario.state
        return fields.get("username") == state.get("username") and fields.get("password") == state.get("password")

    def issue(self) -> str:
        self.logins += 1
        token = self._format.format(next(self._counter))
        self.tokens.add(token)
        return token

    def authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def expire_tokens(self) -> None:
        self.tokens.clear()


class TokenFake:
    """Base of the token-auth vendor fakes: `auth` is their TokenIssuer."""

    auth: TokenIssuer
    scenario: "Scenario"
    unauthorized: dict  # the vendor's body for a missing or expired token

    async def guarded(self, request: Request) -> Response | None:
        """A scripted fault, or the vendor's 401 for a bad token; None: serve the request."""
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        if not self.auth.authorized(request):
            return JSONResponse(self.unauthorized, status_code=401)
        return None

    @property
    def logins(self) -> int:
        return self.auth.logins

    def expire_tokens(self) -> None:
        self.auth.expire_tokens()
