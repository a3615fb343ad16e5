"""A fake Milestone XProtect API Gateway, built from the documented shapes (CONNECTOR_APIS.md §5):
POST /API/IDP/connect/token (form: grant_type=password, username, password,
client_id=GrantValidatorClient → {access_token, expires_in, token_type, scope}), Bearer auth, and
GET /api/rest/v1/alarms?page=P&size=N (page from 0) → {"array": [...]} (no total count).

State: `alarms` (alarm objects), `username`, `password`, `expires_in`, `plain` (priority/state
/source as plain values instead of objects: the [U] alternative).
`expire_tokens()` forgets every issued token (the next call answers 401).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario, TokenFake, TokenIssuer

PRIORITY_IDS = {"High": "8c1b2a1e-0000-4000-8000-000000000001", "Medium": "8c1b2a1e-0000-4000-8000-000000000002",
                "Low": "8c1b2a1e-0000-4000-8000-000000000003"}
STATE_IDS = {"New": 1, "In progress": 4, "On hold": 9, "Closed": 11}


def alarm(alarm_id: str, name: str = "Camera tampering - Lobby", priority: str = "High", state: str = "New",
          camera: str = "Lobby Cam 1", camera_id: str = "a8a8b9dc-3995-49ed-9b00-62caac2ce74a",
          plain: bool = False, **extra: Any) -> dict:
    item = {"id": alarm_id, "localId": 1042, "name": name, "message": "Tampering detected",
            "time": "2025-06-03T10:15:12.000Z", "lastUpdatedTime": "2025-06-03T10:15:12.000Z"}
    if plain:
        item.update(source=camera_id, priority=list(PRIORITY_IDS).index(priority) + 1, state=STATE_IDS[state])
    else:
        item.update(source={"id": camera_id, "name": camera, "type": "cameras"},
                    priority={"id": PRIORITY_IDS[priority], "name": priority},
                    state={"id": f"2e9f4b10-0000-4000-8000-{STATE_IDS[state]:012d}", "name": state})
    item.update(extra)
    return item


class MilestoneFake(TokenFake):
    unauthorized = {"error": {"httpCode": 401, "details": "Unauthorized"}}

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.auth = TokenIssuer(scenario, "eyJhbGciOi.ms{:04d}.5ca1ab1e")
        self.app = Starlette(routes=[
            Route("/API/IDP/connect/token", self.login, methods=["POST"]),
            Route("/api/rest/v1/alarms", self.alarms),
        ])

    async def login(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        self.scenario.seen[-1].json = form
        state = self.scenario.state
        if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if form.get("grant_type") != "password" or form.get("client_id") != "GrantValidatorClient":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not self.auth.credentials_ok(form):
            return JSONResponse({"error": "invalid_grant", "error_description": "invalid_username_or_password"},
                                status_code=400)
        token = self.auth.issue()
        return JSONResponse({"access_token": token, "expires_in": state.get("expires_in", 3600),
                             "token_type": "Bearer", "scope": "managementserver"})

    async def alarms(self, request: Request) -> Response:
        refused = await self.guarded(request)
        if refused is not None:
            return refused
        page, size = int(request.query_params.get("page", 0)), int(request.query_params.get("size", 100))
        rows = list(self.scenario.state.get("alarms", []))
        return JSONResponse({"array": rows[page * size:(page + 1) * size]})
