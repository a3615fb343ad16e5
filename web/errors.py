"""One error envelope for every error the web layer answers with.

    {"error": {"code": "not_found", "message": "...", "details": {...}}}

API paths (/api/…, /healthz, /metrics) get it as JSON; dashboard pages get the same
code and message rendered as a page. A traceback is never sent: unexpected exceptions
are logged and answered with code "internal".
"""
from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("opsconductor.web")

CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    500: "internal",
    503: "unavailable",
}


class ApiError(Exception):
    """Raise from any endpoint to answer with the envelope."""

    def __init__(self, status: int, message: str, details: dict[str, Any] | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "bad_request" if status < 500 else "internal")
        self.message = message
        self.details = details or {}
        self.headers: dict[str, str] = {}


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path in ("/healthz", "/metrics")


MAX_MESSAGE = 1000  # characters; an error never echoes a huge request value back whole
MAX_DETAIL = 200


def _bounded(value: Any, limit: int = MAX_DETAIL) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"… ({len(value) - limit} more characters)"
    if isinstance(value, dict):
        return {str(k)[:limit]: _bounded(v) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [_bounded(v) for v in value[:50]]
    return value


def _respond(request: Request, status: int, code: str, message: str, details: dict[str, Any],
             headers: dict[str, str] | None = None) -> Response:
    message, details = _bounded(message, MAX_MESSAGE), _bounded(details)
    if is_api_path(request.url.path):
        return JSONResponse(envelope(code, message, details), status_code=status, headers=headers)
    from .render import page  # the page helpers import this module

    context = {"status": status, "code": code, "message": message, "details": details}
    response = page(request, "error.html", context, status_code=status)
    response.headers.update(headers or {})
    return response


async def api_error_handler(request: Request, exc: Exception) -> Response:
    err: ApiError = exc  # type: ignore[assignment]  # registered for ApiError only
    return _respond(request, err.status, err.code, err.message, err.details, err.headers or None)


_MESSAGES = {404: "no such page or resource", 405: "method not allowed on this path"}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    code = CODES.get(status, "bad_request" if status < 500 else "internal")
    message = _MESSAGES.get(status) or str(getattr(exc, "detail", ""))
    return _respond(request, status, code, message, {}, dict(getattr(exc, "headers", None) or {}))


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _respond(request, 500, "internal", "internal error; the server log has the details", {})
