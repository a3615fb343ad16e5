"""A fake Ubiquiti UISP, built from the documented shapes (CONNECTOR_APIS.md §8): the
x-auth-token header, /nms/api/v2.1/outages (count and page required, page 1-based, type
filter, {pagination, aggregation, items}) and /nms/api/v2.1/devices (a JSON array).

State: `outages` (items), `devices` (full device objects), `token`.
"""
from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario


def outage(outage_id: str, device_id: str = "dev-1", name: str = "TN-AP-01", ended: bool = False,
           kind: str = "outage", **extra: Any) -> dict:
    item = {"id": outage_id, "startTimestamp": "2025-06-03T09:41:10.000Z",
            "endTimestamp": "2025-06-03T10:02:55.000Z" if ended else None, "type": kind,
            "aggregatedTime": 1305, "site": {"id": "site-1", "name": "Tower North", "type": "site"},
            "device": {"id": device_id, "name": name, "model": "R5AC-PTMP", "type": "airMax",
                       "category": "wireless"}}
    item.update(extra)
    return item


def device(device_id: str = "dev-1", name: str = "TN-AP-01", ip: str = "10.60.0.5/24") -> dict:
    return {"identification": {"id": device_id, "name": name, "hostname": name.lower(), "mac": "fc:ec:da:00:00:01",
                               "model": "R5AC-PTMP", "type": "airMax", "category": "wireless", "role": "ap",
                               "site": {"id": "site-1", "name": "Tower North"}},
            "overview": {"status": "disconnected", "lastSeen": "2025-06-03T09:41:00.000Z"},
            "ipAddress": ip, "enabled": True}


class UispFake:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.app = Starlette(routes=[Route("/nms/api/v2.1/outages", self.outages),
                                     Route("/nms/api/v2.1/devices", self.devices)])

    def denied(self, request: Request) -> Response | None:
        if request.headers.get("x-auth-token") != self.scenario.state.get("token"):
            return JSONResponse({"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"},
                                status_code=401)
        return None

    async def outages(self, request: Request) -> Response:
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        if (denied := self.denied(request)) is not None:
            return denied
        q = request.query_params
        if not q.get("count") or not q.get("page"):
            return JSONResponse({"statusCode": 400, "error": "Bad Request",
                                 "message": "child \"count\" fails because [\"count\" is required]"}, status_code=400)
        items = list(self.scenario.state.get("outages", []))
        if q.get("type"):
            items = [o for o in items if o.get("type") == q["type"]]
        count, page = int(q["count"]), int(q["page"])
        chunk = items[(page - 1) * count:page * count]
        return JSONResponse({"pagination": {"count": len(chunk), "page": page, "total": len(items)},
                             "aggregation": {"allCount": len(items), "outageCount": len(items), "qualityCount": 0},
                             "items": chunk})

    async def devices(self, request: Request) -> Response:
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        if (denied := self.denied(request)) is not None:
            return denied
        return JSONResponse(list(self.scenario.state.get("devices", [])))
