"""Ciena MCP (Blue Planet): token login, then the v2_0 filteredAlarms list of active alarms.

Login: POST /tron/api/v1/tokens {"username", "password"} → 201 {"token", "timeout"?}; the token
goes out as `Authorization: Bearer`, is reused until it expires or a call answers 401 (then one
fresh login and one retry), and is released at stop (DELETE /tron/api/v1/tokens/{token}), since
MCP limits sessions per user. Alarms: GET /nsa/api/v2_0/alarms/filter/filteredAlarms with
filter[state][]=ACTIVE, paged by offset/pageSize until meta["query-total"] (JSON:API records).
An alarm that is CLEARED (or has a clear-time) is not a problem, so a tracked one clears.
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import httpx

from ..base import TokenPollingConnector
from ..http import collect_pages, next_offset, request

LOGIN_PATH = "/tron/api/v1/tokens"
ALARMS_PATH = "/nsa/api/v2_0/alarms/filter/filteredAlarms"
DEFAULT_PAGE_SIZE = 100
STRING_ATTRIBUTES = ("state", "condition-severity", "native-condition-type", "additional-text", "device-name",
                     "device-long-name", "ip-address", "node-type", "resource", "resource-id", "clear-time",
                     "last-raise-time", "first-raise-time", "service-affecting", "service-affection",
                     "acknowledge-state")


class McpConnector(TokenPollingConnector):
    type = "mcp"

    @property
    def page_size(self) -> int:
        return int(self.config.settings.get("page_size") or DEFAULT_PAGE_SIZE)

    async def login(self, client: httpx.AsyncClient) -> tuple[str, float | None]:
        return await self.password_login(client, LOGIN_PATH, token_keys=("token", "accessToken"),
                                         lifetime_key="timeout")

    async def logout(self, client: httpx.AsyncClient, token: str) -> None:
        await request(client, self.http, "DELETE", f"{LOGIN_PATH}/{token}", headers=self.auth_headers(token),
                      what=f"DELETE {LOGIN_PATH}/…")

    def identity(self, item: Mapping) -> Hashable:
        return item.get("native-condition-type")

    def revision(self, item: Mapping) -> Hashable:
        return item.get("condition-severity")

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        size = self.page_size

        async def page(offset: int) -> tuple[list, Any]:
            params = [("filter[state][]", "ACTIVE"), ("offset", str(offset)), ("pageSize", str(size))]
            body = await self.authed_json(client, ALARMS_PATH, params=params, what=f"GET {ALARMS_PATH}")
            data = self.need(body, "data", list, "$")
            meta = self.need(body, "meta", dict, "$", required=False) or {}
            total = self.need(meta, "query-total", int, "$.meta", required=False)
            if total is None:
                total = self.need(meta, "total", int, "$.meta", required=False)
            records = [self._record(rec, f"data[{offset + i}]") for i, rec in enumerate(data)]
            return records, next_offset(offset, len(data), size, total)

        current: dict[str, dict] = {}
        for item in await collect_pages(self.http, 0, page):
            if str(item.get("state", "ACTIVE")).upper() == "ACTIVE" and not item.get("clear-time"):
                current[item["id"]] = item
        return current

    def _record(self, record: Any, where: str) -> dict:
        """A JSON:API record → its attributes plus `id`, types checked."""
        rec_id = self.need(record, "id", (str, int), where)
        attrs = self.need(record, "attributes", dict, where)
        for key in STRING_ATTRIBUTES:
            self.need(attrs, key, str, f"{where}.attributes", required=False)
        self.need(attrs, "additional-attrs", dict, f"{where}.attributes", required=False)
        return {**attrs, "id": str(rec_id)}
