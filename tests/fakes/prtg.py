"""A fake PRTG classic API (/api/table.json), built from the documented shapes
(CONNECTOR_APIS.md §1): apitoken or username+passhash, repeated filter_status,
start/count paging with `treesize`, only the requested columns plus their `_raw` twins.

State: `sensors` (full rows, with `_raw` twins), `devices` (rows with objid, device, host),
`apitoken` or `username` + `passhash` (the credentials it accepts).
"""
from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario

STATUS_TEXT = {1: "Unknown", 3: "Up", 4: "Warning", 5: "Down", 7: "Paused by User", 10: "Unusual",
               13: "Down (Acknowledged)", 14: "Down (Partial)"}


def sensor(objid: int, status_raw: int = 5, device: str = "core-sw-01", parentid: int = 2000,
           name: str = "Ping", **extra: Any) -> dict:
    """A sensor row as PRTG returns it (display values and `_raw` twins)."""
    row = {"objid": objid, "objid_raw": objid, "sensor": name, "sensor_raw": name, "device": device,
           "device_raw": device, "parentid": parentid, "group": "Site A", "probe": "Local Probe",
           "status": STATUS_TEXT.get(status_raw, "?"), "status_raw": status_raw,
           "message": f"<div class=\"status\">{STATUS_TEXT.get(status_raw, '?')}</div><div>Request timed out</div>",
           "message_raw": "Request timed out", "lastvalue": "No data", "lastvalue_raw": "",
           "lastcheck": "6/3/2025 10:15:02 AM [12 s ago]", "lastcheck_raw": 45811.4271,
           "priority": "***", "priority_raw": 3, "type": "ping", "tags": "pingsensor"}
    row.update(extra)
    return row


def device(objid: int, host: str, name: str = "core-sw-01") -> dict:
    return {"objid": objid, "objid_raw": objid, "device": name, "device_raw": name, "host": host, "host_raw": host}


class PrtgFake:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.app = Starlette(routes=[Route("/api/table.json", self.table)])

    def authorized(self, request: Request) -> bool:
        q, state = request.query_params, self.scenario.state
        if q.get("apitoken") is not None:
            return q.get("apitoken") == state.get("apitoken")
        return (q.get("username") is not None and q.get("username") == state.get("username")
                and q.get("passhash") == state.get("passhash"))

    async def table(self, request: Request) -> Response:
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        if not self.authorized(request):
            return Response("<?xml version=\"1.0\"?><prtg><error>Unauthorized</error></prtg>", status_code=401,
                            media_type="text/xml")
        q = request.query_params
        content = q.get("content", "sensors")
        rows = list(self.scenario.state.get(content, []))
        if content == "sensors":
            wanted = {int(s) for s in q.getlist("filter_status")}
            if wanted:  # rows with a broken status_raw pass through: a broken server
                rows = [r for r in rows if not isinstance(r.get("status_raw"), int) or r["status_raw"] in wanted]
        ids = q.getlist("filter_objid")
        if ids:
            rows = [r for r in rows if str(r.get("objid")) in ids]
        rows.sort(key=lambda r: str(r.get("objid")).zfill(12))
        start, count = int(q.get("start", 0)), int(q.get("count", 500))
        columns = [c for c in q.get("columns", "").split(",") if c]
        page = [self.project(r, columns) for r in rows[start:start + count]]
        return JSONResponse({"prtg-version": "24.2.96.1375", "treesize": len(rows), content: page})

    @staticmethod
    def project(row: dict, columns: list[str]) -> dict:
        if not columns:
            return row
        return {k: v for k, v in row.items() if k in columns or (k.endswith("_raw") and k[:-4] in columns)}
