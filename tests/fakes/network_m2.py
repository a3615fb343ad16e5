"""A fake Eaton Network-M2 card, built from the documented shapes (CONNECTOR_APIS.md §3):
POST /rest/mbdetnrs/1.0/oauth2/token (JSON password grant → access_token), Bearer auth,
GET /rest/mbdetnrs/1.0/alarmService/activeAlarms ({@id, members@count, members[{@id}]}) and
GET …/activeAlarms/<id> (id, code, level, device/@id, state, description, timestamp).

State: `alarms` (detail objects by id, in order), `username`, `password`, `expires_in`,
`count_extra` (added to members@count: a card that truncates its list).
`expire_tokens()` forgets every issued token (the next call answers 401).
"""
from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario, TokenFake, TokenIssuer

API = "/rest/mbdetnrs/1.0"
LIST = f"{API}/alarmService/activeAlarms"


def alarm(alarm_id: str, code: str = "1201", level: Any = 7, state: str = "active",
          description: str = "Temperature is critical low", sensor: str = "Ab3x", **extra: Any) -> dict:
    item = {"@id": f"{LIST}/{alarm_id}", "id": alarm_id, "code": code, "level": level, "state": state,
            "description": description, "device": {"@id": f"{API}/sensors/devices/{sensor}"},
            "timestamp": 1717406400}
    item.update(extra)
    return item


class NetworkM2Fake(TokenFake):
    unauthorized = {"code": 401, "message": "Unauthorized"}

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.auth = TokenIssuer(scenario, "m2tok{:04d}feedbeef")
        self.app = Starlette(routes=[
            Route(f"{API}/oauth2/token", self.login, methods=["POST"]),
            Route(LIST, self.active),
            Route(LIST + "/{alarm_id}", self.detail),
        ])

    async def login(self, request: Request) -> Response:
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        body = self.scenario.seen[-1].json or {}
        state = self.scenario.state
        if body.get("grant_type") != "password":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not self.auth.credentials_ok(body):
            return JSONResponse({"error": "invalid_grant"}, status_code=401)
        token = self.auth.issue()
        answer = {"access_token": token, "token_type": "Bearer", "scope": body.get("scope")}
        if state.get("expires_in"):
            answer["expires_in"] = state["expires_in"]
        return JSONResponse(answer)

    async def active(self, request: Request) -> Response:
        refused = await self.guarded(request)
        if refused is not None:
            return refused
        alarms = list(self.scenario.state.get("alarms", {}).values())
        return JSONResponse({"@id": LIST, "members@count": len(alarms) + self.scenario.state.get("count_extra", 0),
                             "members": [{"@id": a["@id"]} for a in alarms]})

    async def detail(self, request: Request) -> Response:
        refused = await self.guarded(request)
        if refused is not None:
            return refused
        item = self.scenario.state.get("alarms", {}).get(request.path_params["alarm_id"])
        if item is None:
            return JSONResponse({"code": 404, "message": "Not found"}, status_code=404)
        return JSONResponse(item)
