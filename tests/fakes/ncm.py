"""A fake Cradlepoint NetCloud Manager API v2, built from the documented shapes
(CONNECTOR_APIS.md §6): the four key headers (all required), trailing slashes (a path without
one answers 301), GET /api/v2/alerts/ with created_at__gt, order_by, limit (capped by the
server) and offset, answering {"data": [...], "meta": {limit, next, offset, previous}} with
`meta.next` an absolute URL.

State: `alerts` (alert objects), `keys` (header → value), `max_limit` (the server's cap on
`limit`, default 500). `echo` faults also echo the key headers (a careless vendor).
"""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario

KEY_HEADERS = ("x-cp-api-id", "x-cp-api-key", "x-ecm-api-id", "x-ecm-api-key")
_clock = itertools.count(1)


def alert(kind: str, router: int = 912345, minutes_ago: float = 10, **info: Any) -> dict:
    """One NCM alert, `minutes_ago` before now (later calls are later by a millisecond)."""
    at = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago) + timedelta(milliseconds=next(_clock))
    return {"account": None, "created_at": at.isoformat(timespec="microseconds"),
            "created_at_timeuuid": f"{next(_clock):08x}-4060-11f0-9b2e-0242ac110002",
            "detected_at": at.replace(microsecond=0).isoformat(), "friendly_info": f"{kind} on router {router}",
            "info": {"time": [at.strftime("%Y-%m-%d %H:%M:%S"), "UTC"], **info},
            "router": f"https://www.cradlepointecm.com/api/v2/routers/{router}/", "type": kind}


class NcmFake:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.app = Starlette(routes=[Route("/api/v2/alerts/", self.alerts), Route("/api/v2/alerts", self.redirect)])

    async def redirect(self, request: Request) -> Response:
        await self.scenario.record(request)
        return RedirectResponse(str(request.url).replace("/alerts", "/alerts/", 1), status_code=301)

    async def alerts(self, request: Request) -> Response:
        path = request.url.path
        queued = next((f for f in self.scenario.faults if f.path is None or path.startswith(f.path)), None)
        fault = await self.scenario.intercept(request)
        if fault is not None:
            if queued is not None and queued.kind == "echo":
                keys = {k: v for k, v in request.headers.items() if k.lower() in KEY_HEADERS}
                return Response(f"Bad request {keys} {request.url}", status_code=queued.status, media_type="text/plain")
            return fault
        keys = self.scenario.state.get("keys", {})
        for name in KEY_HEADERS:
            if request.headers.get(name) != keys.get(name):
                return JSONResponse({"success": False, "error": {"code": 401, "message": "Unauthorized"}},
                                    status_code=401)
        q = request.query_params
        rows = sorted(self.scenario.state.get("alerts", []), key=lambda a: a["created_at"])
        if q.get("created_at__gt"):
            since = datetime.fromisoformat(q["created_at__gt"])
            rows = [a for a in rows if datetime.fromisoformat(a["created_at"]) > since]
        limit = min(int(q.get("limit", 20)), self.scenario.state.get("max_limit", 500))
        offset = int(q.get("offset", 0))
        page = rows[offset:offset + limit]
        base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        params = {k: v for k, v in q.items() if k != "offset"}
        nxt = f"{base}?{urlencode({**params, 'offset': offset + limit})}" if offset + limit < len(rows) else None
        prev = f"{base}?{urlencode({**params, 'offset': max(0, offset - limit)})}" if offset else None
        return JSONResponse({"data": page, "meta": {"limit": limit, "next": nxt, "offset": offset, "previous": prev}})
