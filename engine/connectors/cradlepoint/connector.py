"""Cradlepoint NetCloud Manager API v2 (type `cradlepoint`, `mode: api`): router alerts.

Every call carries the four key headers (X-CP-API-ID, X-CP-API-KEY, X-ECM-API-ID,
X-ECM-API-KEY) and `Content-Type: application/json`; every path ends in a slash (NCM answers a
301 otherwise, which costs a second call against the rate limit). One poll reads
GET /api/v2/alerts/?created_at__gt=<now − LOOKBACK>&order_by=created_at&limit=500 and follows
`meta.next` until it is null; only the path and query of `meta.next` are used, on the
configured url, so the keys never go to another host.

NCM alerts are events, not states (see normalizer.py for the table). The connector turns
them into current problems:
- a *paired* type (modem_wan_disconnected ↔ modem_wan_connected, ipsec_tunnel_down ↔ _up,
  connection_state offline ↔ online, …) is a problem while the latest event of its family for
  that router and resource is the "down" one. A problem raised earlier whose family shows no
  event in the window stays current (the router has not said it recovered), so problems
  older than LOOKBACK are not dropped;
- an *event-only* type (thermal_exceeds_limit, cpu_utilization, failover_event, …) is a
  problem until HOLD (1 h) after its last occurrence: it ages out; a repeat raises it again;
- other types are informational and ignored.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Hashable, Mapping
from urllib.parse import urlsplit

import httpx

from ...errors import ConnectorError
from ..base import PollingConnector
from ..normalize_helpers import parse_time
from ..http import collect_pages
from .normalizer import DOWN, HOLD, classify, key_of, resource_of, router_id

DEFAULT_URL = "https://www.cradlepointecm.com"
ALERTS_PATH = "/api/v2/alerts/"
LOOKBACK = timedelta(hours=24)
LIMIT = 500  # the API's maximum
KEY_HEADERS = (("cp_api_id", "X-CP-API-ID"), ("cp_api_key", "X-CP-API-KEY"),
               ("ecm_api_id", "X-ECM-API-ID"), ("ecm_api_key", "X-ECM-API-KEY"))


def _with_url(config, default: str):
    """The config with `url` set (the policy needs one; NCM has a well-known default)."""
    import dataclasses
    from types import MappingProxyType
    if config.settings.get("url"):
        return config
    return dataclasses.replace(config, settings=MappingProxyType({**config.settings, "url": default}))


class NcmConnector(PollingConnector):
    type = "cradlepoint"

    def __init__(self, config, sink, **kwargs: Any):
        mode = config.settings.get("mode", "api")
        if mode != "api":
            raise ConnectorError(config.name, f"mode {mode!r} is served by the Cradlepoint SNMP poller, "
                                              "not the NCM API connector", field="mode")
        super().__init__(_with_url(config, DEFAULT_URL), sink, **kwargs)
        self.config = config

    def headers(self) -> dict[str, str]:
        return {header: self.secret(key) for key, header in KEY_HEADERS} | {"Content-Type": "application/json"}

    def event(self, payload: Mapping[str, Any], source_address: str | None = None):
        return super().event({**payload, "mode": "api"}, source_address)

    def revision(self, item: Mapping) -> Hashable:
        # an event-only alert that happens again is raised again (the engine counts occurrences)
        return item.get("created_at") if item.get("family") == "event" else None

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        headers = self.headers()
        now = self.clock()
        since = (now - LOOKBACK).isoformat()
        first = (ALERTS_PATH, {"created_at__gt": since, "order_by": "created_at", "limit": str(LIMIT)})

        async def page(cursor: tuple[str, Any]) -> tuple[list, Any]:
            path, params = cursor
            body = await self.get_json(client, path, params=params, headers=headers, what=f"GET {ALERTS_PATH}")
            data = self.need(body, "data", list, "$")
            meta = self.need(body, "meta", dict, "$", required=False) or {}
            offset = self.need(meta, "offset", int, "$.meta", required=False) or 0
            nxt = self.need(meta, "next", str, "$.meta", required=False)
            return [self._alert(a, f"data[{offset + i}]") for i, a in enumerate(data)], \
                (self._next(nxt), None) if nxt and data else None

        alerts = await collect_pages(self.http, first, page)
        alerts.sort(key=lambda a: (a["_at"], a.get("created_at_timeuuid") or ""))
        latest: dict[str, dict] = {}
        for alert in alerts:
            kind = classify(alert)
            if kind is None:
                continue
            family, direction = kind
            alert.pop("_at")
            latest[key_of(alert, family)] = {**alert, "family": family,
                                             "direction": direction if family != "event" else DOWN}
        current: dict[str, dict] = {}
        for key, item in latest.items():
            if item["family"] == "event":
                seen = parse_time(item.get("created_at"))
                if seen is not None and now - seen < HOLD:
                    current[key] = item
            elif item["direction"] == DOWN:
                current[key] = item
        for key, old in self.state.items():  # still down: no event of its family in the window
            if key not in latest and old.get("family") not in (None, "event"):
                current[key] = dict(old)
        return current

    def _next(self, url: str) -> str:
        parts = urlsplit(url)
        if not parts.path.startswith("/api/v2/"):
            raise self.bad("$.meta.next", f"unexpected next link {url[:80]!r}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _alert(self, alert: Any, where: str) -> dict:
        self.need(alert, "type", str, where)
        created = self.need(alert, "created_at", str, where)
        at = parse_time(created)
        if at is None:
            raise self.bad(f"{where}.created_at", f"not an ISO-8601 time: {created[:40]!r}")
        for key in ("created_at_timeuuid", "detected_at", "friendly_info"):
            self.need(alert, key, str, where, required=False)
        self.need(alert, "info", dict, where, required=False)
        router = alert.get("router")
        if router is not None and not isinstance(router, (str, int, Mapping)) or isinstance(router, bool):
            raise self.bad(f"{where}.router", f"expected a router URL, got {type(router).__name__}")
        item = dict(alert)
        item["_at"] = at
        item["router_id"] = router_id(alert)
        item["resource"] = resource_of(alert)
        return item


def cradlepoint_connector(config, sink, **kwargs: Any):
    """The `cradlepoint` type by mode: this NCM API connector, or the SNMP poller (snmp.py)."""
    if config.settings.get("mode", "api") == "snmp":
        from .snmp import CradlepointSnmpPoller
        return CradlepointSnmpPoller(config, sink, **kwargs)
    return NcmConnector(config, sink, **kwargs)
