"""A fake Ciena MCP, built from the documented shapes (CONNECTOR_APIS.md §2): token login
(POST /tron/api/v1/tokens → 201), Bearer auth, logout (DELETE /tron/api/v1/tokens/{t} → 204),
and /nsa/api/v2_0/alarms/filter/filteredAlarms (JSON:API, filter[state][], offset/pageSize,
meta["query-total"]).

State: `alarms` (JSON:API records), `username`, `password`, `token_timeout`.
`expire_tokens()` forgets every issued token (the next call answers 401).
"""
from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario, TokenFake, TokenIssuer


def alarm(alarm_id: str, severity: str = "CRITICAL", condition: str = "LOS", state: str = "ACTIVE",
          device: str = "WS-POP3-01", ip: str = "10.40.3.11", resource: str = "PORT-1-3", **extra: Any) -> dict:
    attrs = {"id": alarm_id, "alarm-id": alarm_id, "state": state, "condition-severity": severity,
             "native-condition-type": condition, "additional-text": "Loss of Signal",
             "service-affecting": "SERVICE_AFFECTING", "acknowledge-state": "NOT_ACKNOWLEDGED",
             "first-raise-time": "2025-06-03T09:58:01.000Z", "last-raise-time": "2025-06-03T09:58:01.000Z",
             "number-of-occurrences": 1, "device-name": device, "ip-address": ip, "node-type": "WAVESERVER AI",
             "resource": resource, "additional-attrs": {"direction": "RCV", "location": "NEND"}}
    if state == "CLEARED":
        attrs["clear-time"] = "2025-06-03T10:30:00.000Z"
    attrs.update(extra)
    return {"id": alarm_id, "type": "FilteredAlarm", "attributes": attrs}


class McpFake(TokenFake):
    unauthorized = {"errors": [{"status": "401", "title": "Unauthorized"}]}

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.auth = TokenIssuer(scenario, "tok{:04d}c0ffee")
        self.logouts = 0
        self.app = Starlette(routes=[
            Route("/tron/api/v1/tokens", self.login, methods=["POST"]),
            Route("/tron/api/v1/tokens/{token}", self.logout, methods=["DELETE"]),
            Route("/nsa/api/v2_0/alarms/filter/filteredAlarms", self.alarms),
        ])

    async def login(self, request: Request) -> Response:
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        body = self.scenario.seen[-1].json or {}
        state = self.scenario.state
        if not self.auth.credentials_ok(body):
            return JSONResponse({"isSuccessful": False, "message": "Invalid credentials"}, status_code=401)
        token = self.auth.issue()
        return JSONResponse({"isSuccessful": True, "token": token, "timeout": state.get("token_timeout", 3600),
                             "user": body["username"]}, status_code=201)

    async def logout(self, request: Request) -> Response:
        await self.scenario.record(request)
        self.logouts += 1
        self.auth.tokens.discard(request.path_params["token"])
        return Response(status_code=204)

    async def alarms(self, request: Request) -> Response:
        refused = await self.guarded(request)
        if refused is not None:
            return refused
        q = request.query_params
        records = list(self.scenario.state.get("alarms", []))
        states = q.getlist("filter[state][]")
        if states:
            records = [r for r in records if r["attributes"].get("state") in states]
        offset, size = int(q.get("offset", 0)), int(q.get("pageSize", 100))
        return JSONResponse({"data": records[offset:offset + size],
                             "meta": {"query-total": len(records),
                                      "query-aggregations": {"severity": {}}}})
