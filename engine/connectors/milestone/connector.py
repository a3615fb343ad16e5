"""Milestone XProtect through the API Gateway: token, then the RESTful Alarms API.

Login (basic XProtect user): POST /API/IDP/connect/token, form-encoded
grant_type=password&username=…&password=…&client_id=GrantValidatorClient →
{access_token, expires_in, token_type}. The token goes out as `Authorization: Bearer`, is
renewed before expires_in runs out (at 90 %), and once more when a call answers 401.
Alarms: GET /api/rest/v1/alarms?page=P&size=N (page from 0) → {"array": [...]}, followed until a
page comes back shorter than `size` (there is no total count). The API has no documented state
filter, so closed alarms are filtered here: state "Closed" (name) or 11 (the default state
number) is not a problem, so a tracked alarm that is closed (or no longer listed) clears.
`priority`, `state` and `source` may be objects ({id, name}) or plain values: both are read.
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import httpx

from ..base import TokenPollingConnector
from ..http import collect_pages, next_page
from .normalizer import STATES, is_closed, name_of

LOGIN_PATH = "/API/IDP/connect/token"
ALARMS_PATH = "/api/rest/v1/alarms"
DEFAULT_PAGE_SIZE = 100
CLIENT_ID = "GrantValidatorClient"


class MilestoneConnector(TokenPollingConnector):
    type = "milestone"

    @property
    def page_size(self) -> int:
        return int(self.config.settings.get("page_size") or DEFAULT_PAGE_SIZE)

    async def login(self, client: httpx.AsyncClient) -> tuple[str, float | None]:
        return await self.password_login(client, LOGIN_PATH, form=True,
                                         extra={"grant_type": "password", "client_id": CLIENT_ID},
                                         hint="and that it is a basic (XProtect) user")

    def identity(self, item: Mapping) -> Hashable:
        return item.get("name")

    def revision(self, item: Mapping) -> Hashable:
        return name_of(item.get("priority")), name_of(item.get("state"), STATES)

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        size = self.page_size

        async def page(number: int) -> tuple[list, Any]:
            body = await self.authed_json(client, ALARMS_PATH, params={"page": str(number), "size": str(size)},
                                          what=f"GET {ALARMS_PATH}")
            rows = self.need(body, "array", list, "$")
            first = number * size
            return [self._alarm(a, f"array[{first + i}]") for i, a in enumerate(rows)], \
                next_page(number, len(rows), size, None, first_page=0)

        return {a["id"]: a for a in await collect_pages(self.http, 0, page) if not is_closed(a)}

    def _alarm(self, alarm: Any, where: str) -> dict:
        self.need(alarm, "id", str, where)
        for key in ("name", "message", "time", "lastUpdatedTime"):
            self.need(alarm, key, str, where, required=False)
        self.need(alarm, "localId", int, where, required=False)
        for key in ("priority", "state", "source", "category"):
            value = alarm.get(key)
            if value is not None and not isinstance(value, (Mapping, str, int)) or isinstance(value, bool):
                raise self.bad(f"{where}.{key}", f"expected an object, a text or a number, got {type(value).__name__}")
            if isinstance(value, Mapping):
                self.need(value, "name", str, f"{where}.{key}", required=False)
                self.need(value, "id", (str, int), f"{where}.{key}", required=False)
        return dict(alarm)
