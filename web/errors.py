"""One error envelope for every error the web layer answers with.

    {"error": {"code": "not_found", "message": "...", "details": {...}}}

API paths (/api/…, /healthz, /metrics) get it as JSON; dashboard pages get the same
code and message rendered as a page. A traceback is never sent: unexpected exceptions
are logged and answered with code "internal". The handlers that answer with it are in
web/error_handlers.py (a page needs the templates, which need this module).
"""
from __future__ import annotations

from typing import Any

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


def bounded(value: Any, limit: int = MAX_DETAIL) -> Any:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"… ({len(value) - limit} more characters)"
    if isinstance(value, dict):
        return {str(k)[:limit]: bounded(v) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [bounded(v) for v in value[:50]]
    return value
