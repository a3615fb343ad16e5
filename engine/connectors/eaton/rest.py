"""Eaton Network-M2/M3 card REST API ("mbdetnrs"): active alarms (type `eaton_rest`).

Login: POST /rest/mbdetnrs/1.0/oauth2/token with JSON {username, password,
grant_type: password, scope: GUIAccess} → {access_token, token_type, expires_in?}; the token goes
out as `Authorization: Bearer`, is reused until it expires or a call answers 401 (then one fresh
login and one retry). Alarms: GET /rest/mbdetnrs/1.0/alarmService/activeAlarms →
{"members@count": N, "members": [{"@id": ".../activeAlarms/<id>"}]}, then GET each member's
@id for its details (id, code, level, device/@id; state, description, timestamp where the
firmware sends them). The list is not paged; a list shorter than members@count fails the poll
(a partial list must not clear alarms). An alarm whose level is "good" (4) or whose state says
inactive/cleared is not a problem; a tracked alarm that disappears or turns good clears.
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import httpx

from ..base import TokenPollingConnector
from .normalizer_rest import is_problem, level_name

API = "/rest/mbdetnrs/1.0"
LOGIN_PATH = f"{API}/oauth2/token"
ALARMS_PATH = f"{API}/alarmService/activeAlarms"
MAX_ALARMS = 2000  # a card lists a few dozen at most; more means something is wrong


class EatonRestConnector(TokenPollingConnector):
    type = "eaton_rest"

    async def login(self, client: httpx.AsyncClient) -> tuple[str, float | None]:
        return await self.password_login(client, LOGIN_PATH, extra={"grant_type": "password", "scope": "GUIAccess"})

    def identity(self, item: Mapping) -> Hashable:
        return item.get("code")

    def revision(self, item: Mapping) -> Hashable:
        return level_name(item.get("level"))

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        body = await self.authed_json(client, ALARMS_PATH, what=f"GET {ALARMS_PATH}")
        members = self.need(body, "members", list, "activeAlarms")
        count = self.need(body, "members@count", int, "activeAlarms", required=False)
        if count is not None and count > len(members):
            raise self.bad("activeAlarms.members", f"lists {len(members)} alarms but members@count is {count}; "
                                                   "a partial list would clear alarms that are still active")
        if len(members) > MAX_ALARMS:
            raise self.bad("activeAlarms.members", f"{len(members)} alarms (at most {MAX_ALARMS} are read)")
        current: dict[str, dict] = {}
        for i, member in enumerate(members):
            where = f"activeAlarms.members[{i}]"
            ref = self.need(member, "@id", str, where)
            if not ref.startswith(f"{API}/alarmService/") or ".." in ref:
                raise self.bad(f"{where}.@id", f"unexpected alarm link {ref[:80]!r} (expected {ALARMS_PATH}/<id>)")
            item = await self.authed_json(client, ref, what=f"GET {ref}")
            alarm = self._alarm(item, f"activeAlarms[{ref.rsplit('/', 1)[-1]}]", ref)
            if is_problem(alarm):
                current[alarm["id"]] = alarm
        return current

    def _alarm(self, item: Any, where: str, ref: str) -> dict:
        alarm_id = self.need(item, "id", (str, int), where, required=False)
        self.need(item, "code", (str, int), where)
        level = self.need(item, "level", (int, str), where)
        if isinstance(level, str) and level_name(level) is None:
            raise self.bad(f"{where}.level", f"unknown level {level[:20]!r} (expected 4..7 or good/info/warning/critical)")
        for key in ("state", "description", "message"):
            self.need(item, key, str, where, required=False)
        device = self.need(item, "device", dict, where, required=False)
        if device is not None:
            self.need(device, "@id", str, f"{where}.device", required=False)
        self.need(item, "timestamp", (int, float, str), where, required=False)
        return {**item, "id": str(alarm_id if alarm_id is not None else ref.rsplit("/", 1)[-1]),
                "code": str(item["code"]), "level": level, "@id": ref}
