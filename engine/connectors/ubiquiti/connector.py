"""Ubiquiti UISP (formerly UNMS): ongoing device outages from /nms/api/v2.1.

Auth: the `x-auth-token` header. Outages: GET /nms/api/v2.1/outages?type=outage&count=N&page=P
(both required, page 1-based) → {pagination, aggregation, items}, paged until a short page or
pagination.total. An outage is ongoing while it has no endTimestamp (or inProgress is true,
where the release sends it); an ended one is not a problem, so a tracked one clears. The outage's
device is joined with GET /nms/api/v2.1/devices (one call, only when something is down) for its
identification.name and ipAddress; the join's subset is stored in the item as `device_detail`.
"""
from __future__ import annotations

from typing import Any, Mapping

import httpx

from ..base import PollingConnector
from ..http import collect_pages, next_page

API = "/nms/api/v2.1"
DEFAULT_PAGE_SIZE = 100


class UispConnector(PollingConnector):
    type = "ubiquiti"

    @property
    def page_size(self) -> int:
        return int(self.config.settings.get("page_size") or DEFAULT_PAGE_SIZE)

    def headers(self) -> dict[str, str]:
        return {"x-auth-token": self.secret("api_token")}

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        headers, size = self.headers(), self.page_size

        async def page(number: int) -> tuple[list, Any]:
            body = await self.get_json(client, f"{API}/outages", headers=headers, what=f"GET {API}/outages",
                                       params={"type": "outage", "count": str(size), "page": str(number)})
            items = self.need(body, "items", list, "$")
            pagination = self.need(body, "pagination", dict, "$", required=False) or {}
            total = self.need(pagination, "total", int, "$.pagination", required=False)
            first = (number - 1) * size
            return [self._outage(o, f"items[{first + i}]") for i, o in enumerate(items)], \
                next_page(number, len(items), size, total)

        current = {o["id"]: o for o in await collect_pages(self.http, 1, page) if ongoing(o)}
        if any(needs_device(o) for o in current.values()):
            devices = await self._devices(client, headers)
            for outage in current.values():
                device = outage.get("device") or {}
                detail = devices.get(device.get("id") or "") or _detail(device)
                outage["device_detail"] = detail
        else:
            for outage in current.values():
                outage["device_detail"] = _detail(outage.get("device") or {})
        return current

    def _outage(self, outage: Any, where: str) -> dict:
        self.need(outage, "id", str, where)
        for key in ("type", "startTimestamp"):
            self.need(outage, key, str, where, required=False)
        self.need(outage, "endTimestamp", str, where, required=False)
        self.need(outage, "inProgress", bool, where, required=False)
        device = self.need(outage, "device", dict, where, required=False)
        if device is not None:
            for key in ("id", "name", "ipAddress"):
                self.need(device, key, str, f"{where}.device", required=False)
            self.need(device, "identification", dict, f"{where}.device", required=False)
        self.need(outage, "site", dict, where, required=False)
        return dict(outage)

    async def _devices(self, client: httpx.AsyncClient, headers: dict) -> dict[str, dict]:
        body = await self.get_json(client, f"{API}/devices", headers=headers, what=f"GET {API}/devices")
        if not isinstance(body, list):
            raise self.bad("$", f"GET {API}/devices: expected a list of devices, got {type(body).__name__}")
        out: dict[str, dict] = {}
        for i, device in enumerate(body):
            ident = self.need(device, "identification", dict, f"devices[{i}]")
            dev_id = self.need(ident, "id", str, f"devices[{i}].identification")
            self.need(ident, "name", str, f"devices[{i}].identification", required=False)
            self.need(device, "ipAddress", str, f"devices[{i}]", required=False)
            out[dev_id] = _detail(device)
        return out


def ongoing(outage: Mapping[str, Any]) -> bool:
    if isinstance(outage.get("inProgress"), bool):
        return outage["inProgress"]
    return not outage.get("endTimestamp")


def needs_device(outage: Mapping[str, Any]) -> bool:
    device = outage.get("device") or {}
    return not (device.get("ipAddress") and isinstance(device.get("identification"), Mapping))


def _detail(device: Mapping[str, Any]) -> dict:
    """The few device fields an alert needs, from a full device or an outage's device stub."""
    ident = device["identification"] if isinstance(device.get("identification"), Mapping) else {}
    site = ident["site"] if isinstance(ident.get("site"), Mapping) else {}
    return {"id": ident.get("id") or device.get("id"), "name": ident.get("name") or device.get("name"),
            "hostname": ident.get("hostname"), "ipAddress": device.get("ipAddress"),
            "model": ident.get("model") or device.get("model"), "type": ident.get("type") or device.get("type"),
            "category": ident.get("category") or device.get("category"), "role": ident.get("role"),
            "site": site.get("name")}
