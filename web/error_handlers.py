"""The web layer's exception handlers: every error as the one envelope (web/errors.py), as JSON
on API paths and as a page on the dashboard's."""
from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import CODES, MAX_MESSAGE, ApiError, bounded, envelope, is_api_path
from .render import page

log = logging.getLogger("opsconductor.web")


def _respond(request: Request, status: int, code: str, message: str, details: dict[str, Any],
             headers: dict[str, str] | None = None) -> Response:
    message, details = bounded(message, MAX_MESSAGE), bounded(details)
    if is_api_path(request.url.path):
        return JSONResponse(envelope(code, message, details), status_code=status, headers=headers)
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
