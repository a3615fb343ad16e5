"""PRTG Network Monitor (classic API v1): sensors that are not up, from /api/table.json.

One poll: `content=sensors` with the configured `filter_status` codes (the parameter
repeated), paged with start/count until `treesize` rows. Sensor rows do not reliably carry
the device's address, so the parent devices of the problem sensors are looked up in
`content=devices` (filter_objid, same paging) and their `host` is added to the item.
Paused and unknown sensors are not problems: a sensor that is paused while down clears.
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import httpx

from ..base import PollingConnector
from ..http import collect_pages, next_offset
from .normalizer import status_kind

SENSOR_COLUMNS = ("objid,sensor,device,parentid,group,probe,status,message,lastvalue,lastcheck,"
                  "priority,tags,type,downtimesince")
DEVICE_COLUMNS = "objid,device,host"
DEFAULT_FILTER = (4, 5, 10, 13, 14)
DEFAULT_PAGE_SIZE = 500
DEVICE_CHUNK = 50


class PrtgConnector(PollingConnector):
    type = "prtg"

    def auth_params(self) -> list[tuple[str, str]]:
        settings = self.config.settings
        if settings.get("api_token") is not None:
            return [("apitoken", self.secret("api_token"))]
        if settings.get("username") and settings.get("passhash") is not None:
            return [("username", str(settings["username"])), ("passhash", self.secret("passhash"))]
        raise self.bad("api_token", "no credentials: set api_token, or username and passhash")

    @property
    def page_size(self) -> int:
        return int(self.config.settings.get("page_size") or DEFAULT_PAGE_SIZE)

    def identity(self, item: Mapping) -> Hashable:
        return status_kind(item.get("status_raw"))

    def revision(self, item: Mapping) -> Hashable:
        return item.get("status_raw")

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        auth = self.auth_params()
        statuses = tuple(self.config.settings.get("filter_status") or DEFAULT_FILTER)
        base = [("content", "sensors"), ("columns", SENSOR_COLUMNS), ("sortby", "objid"),
                *(("filter_status", str(s)) for s in statuses)]
        rows = await self._table(client, "sensors", base, auth)
        current: dict[str, dict] = {}
        for i, row in enumerate(rows):
            where = f"sensors[{i}]"
            objid = self.need(row, "objid", int, where)
            status = self.need(row, "status_raw", int, where)
            for key in ("sensor", "device", "status", "message", "message_raw"):
                self.need(row, key, str, where, required=False)
            parent = self.need(row, "parentid", int, where, required=False)
            if status_kind(status) is None:  # paused, up, collecting…: not a problem
                continue
            current[str(objid)] = {**row, "objid": objid, "status_raw": status, "parentid": parent}
        await self._add_hosts(client, current, auth)
        return current

    async def _table(self, client: httpx.AsyncClient, content: str, params: list, auth: list) -> list[dict]:
        size = self.page_size

        async def page(start: int) -> tuple[list, Any]:
            body = await self.get_json(client, "/api/table.json",
                                       params=[*params, ("count", str(size)), ("start", str(start)), *auth],
                                       what=f"GET /api/table.json?content={content}")
            rows = self.need(body, content, list, "$")
            total = self.need(body, "treesize", int, "$", required=False)
            for i, row in enumerate(rows):
                if not isinstance(row, Mapping):
                    raise self.bad(f"{content}[{start + i}]", "expected an object")
            return rows, next_offset(start, len(rows), size, total)

        return await collect_pages(self.http, 0, page)

    async def _add_hosts(self, client: httpx.AsyncClient, current: dict[str, dict], auth: list) -> None:
        """Join each problem sensor with its parent device's `host` (unless the row has one)."""
        wanted = sorted({item["parentid"] for item in current.values()
                         if item.get("parentid") is not None and not item.get("host")}, key=str)
        hosts: dict[int, str] = {}
        for i in range(0, len(wanted), DEVICE_CHUNK):
            ids = wanted[i:i + DEVICE_CHUNK]
            params = [("content", "devices"), ("columns", DEVICE_COLUMNS), *(("filter_objid", str(d)) for d in ids)]
            for j, row in enumerate(await self._table(client, "devices", params, auth)):
                objid = self.need(row, "objid", int, f"devices[{j}]")
                host = self.need(row, "host", str, f"devices[{j}]", required=False)
                if host:
                    hosts[objid] = host
        for item in current.values():
            if not item.get("host") and item.get("parentid") in hosts:
                item["host"] = hosts[item["parentid"]]
