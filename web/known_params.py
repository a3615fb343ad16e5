"""The JSON API's reads refuse a query parameter their endpoint does not take, naming it: a
typo such as `?severty=critical` would otherwise silently return every alert. Writes are
left alone: an inbound webhook whose sender appends a parameter of its own must not lose
its events to a 400 the sender retries forever.

Which parameters an endpoint takes is read from the OpenAPI document (web/openapi.py),
the one place they are declared; a path it does not describe is left alone.
"""
from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .error_handlers import api_error_handler
from .errors import ApiError
from .openapi import PATHS


def _table(paths: Mapping[str, Any]) -> list[tuple[re.Pattern, dict[str, frozenset[str]]]]:
    table = []
    for template, operations in paths.items():
        pattern = re.compile("^" + re.sub(r"\{[^/]+?\}", "[^/]+", re.escape(template).replace(r"\{", "{")
                                          .replace(r"\}", "}")) + "$")
        allowed = {method.upper(): frozenset(p["name"] for p in op.get("parameters", ()) if p.get("in") == "query")
                   for method, op in operations.items() if isinstance(op, dict)}
        table.append((pattern, allowed))
    return table


class KnownParams:
    def __init__(self, app: ASGIApp, paths: Mapping[str, Any] = PATHS):
        self.app = app
        self.table = _table(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = self._check(scope) if scope["type"] == "http" else None
        if error is None:
            await self.app(scope, receive, send)
            return
        response = await api_error_handler(Request(scope), error)
        await response(scope, receive, send)

    def _check(self, scope: Scope) -> ApiError | None:
        query = scope.get("query_string", b"")
        if not query:
            return None
        path, method = scope["path"], scope["method"]
        if method not in ("GET", "HEAD"):
            return None
        allowed = next((ops.get(method) for pattern, ops in self.table if pattern.match(path)), None)
        if allowed is None:
            return None
        names = {name for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True)}
        unknown = sorted(names - allowed)
        if not unknown:
            return None
        known = ", ".join(sorted(allowed)) or "none"
        return ApiError(400, f"unknown query parameter(s) {', '.join(unknown)} for {method} {path}; it takes: {known}",
                        {"unknown": unknown, "allowed": sorted(allowed)})
