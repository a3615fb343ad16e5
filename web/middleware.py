"""Pure ASGI middleware: security headers, the query-string guard, the POST body limit, HTTP metrics.

Pure ASGI (not BaseHTTPMiddleware) so server-sent event streams pass through
untouched and nothing is buffered.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .error_handlers import api_error_handler, internal_error_handler
from .errors import ApiError
from .metrics import HttpMetrics

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"cache-control" or static]
                headers.extend(SECURITY_HEADERS)
                headers.append((b"cache-control", b"public, max-age=300" if static else b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_QUERY_BYTES = 8192  # no filter needs more; a longer query string is refused, not parsed


def query_problem(query_string: bytes) -> ApiError | None:
    """Why a query string cannot reach any endpoint, or None. PostgreSQL text cannot hold NUL,
    so a NUL in any parameter is refused here once, for every route and page."""
    if len(query_string) > MAX_QUERY_BYTES:
        return ApiError(414, f"the query string is longer than {MAX_QUERY_BYTES} bytes",
                        {"limit_bytes": MAX_QUERY_BYTES})
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return ApiError(400, f"query parameter {key[:40]!r} contains a NUL character", {"parameter": key[:40]})
    return None


class QueryGuard:
    """Answer a query string no endpoint can use (query_problem) with the error envelope."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = query_problem(scope.get("query_string", b"")) if scope["type"] == "http" else None
        if problem is None:
            await self.app(scope, receive, send)
            return
        response = await api_error_handler(Request(scope), problem)
        await response(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, by Content-Length or as they stream."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        # bytes.isdigit() is ASCII only; a length of 19+ digits is beyond any limit (and int() stays cheap)
        too_big = declared is not None and declared.isdigit() and (len(declared) > 18 or int(declared) > self.limit)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            if too_big:
                raise self._error()
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise self._error()
            return message

        await self.app(scope, limited, send)

    def _error(self) -> ApiError:
        return ApiError(413, f"the request body is larger than {self.limit} bytes", {"limit_bytes": self.limit})


class Metrics:
    """Count requests by method, route template and status, and time them."""

    TEMPLATES_KEPT = 4096  # (method, path) → route template; paths with ids are many, so bounded

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, routes: Callable[[], list[Any]]):
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self._templates: dict[tuple[str, str], str] = {}  # matching every route per request was ~3% of intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.observe(scope["method"], self._template(scope), status, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        key = (scope["method"], scope["path"])
        template = self._templates.get(key)
        if template is None:
            template = next((getattr(route, "path", "other") for route in self.routes()
                             if route.matches(scope)[0] is Match.FULL), "unmatched")
            if len(self._templates) >= self.TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[key] = template
        return template


class CatchAll:
    """Turn an unexpected exception into the 'internal' envelope inside the header middleware
    (Starlette's own last-resort handler sits outside every middleware)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await internal_error_handler(Request(scope), exc)
            await response(scope, receive, send)
