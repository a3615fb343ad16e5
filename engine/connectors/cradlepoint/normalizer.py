"""Cradlepoint NCM alerts → our alert types, and NCM poll events → alerts (mode `api`).

NCM alerts are events, not states. Types that come in down/up pairs form a *family*; the
latest event of a family on a router (and resource: modem uid, tunnel name) decides whether the
problem is current. Types without a pair are *event-only* and age out HOLD after they were
last seen. Informational types (login_success, wifi_client_state_change, *_standby, *_plugged,
wan_service_type) are not problems.

| NCM type(s) | family | our alert_type | severity |
|---|---|---|---|
| connection_state (info.online false / "offline") ↔ (online) | connection | device_offline | critical |
| ethernet_wan_disconnected ↔ ethernet_wan_connected | ethernet_wan | wan_down | major |
| modem_wan_disconnected, modem_wan_unplugged ↔ modem_wan_connected | modem_wan | modem_down | major |
| wwan_disconnected ↔ wwan_connected | wwan | wwan_down | major |
| wwan_network_unavailable ↔ wwan_network_available | wwan_network | cellular_network_unavailable | major |
| ipsec_tunnel_down ↔ ipsec_tunnel_up | ipsec_tunnel | ipsec_tunnel_down | major |
| thermal_exceeds_limit | (event) | over_temperature | major |
| sustained_system_overload | (event) | system_overload | minor |
| cpu_utilization / memory_utilization | (event) | high_cpu / high_memory | warning |
| data_cap_threshold / failover_event | (event) | data_cap_exceeded / wan_failover | warning |
| sim_door_event / reboot_status_change | (event) | sim_door_opened / device_rebooted | minor / info |

`severity_map` overrides, keyed by the NCM type or our alert type. Device: the router id (from
the `router` URL) as `ncm-router-<id>`, or the router's name/IP when the item carries them.
An event that is not from the NCM API (the SNMP mode) goes to cradlepoint/normalizer_snmp.py.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, parse_time, poll_alert, severity_for

HOLD = timedelta(hours=1)  # event-only alerts clear this long after their last occurrence
DOWN, UP = "down", "up"
PAIRED: dict[str, tuple[str, str]] = {
    "ethernet_wan_disconnected": ("ethernet_wan", DOWN), "ethernet_wan_connected": ("ethernet_wan", UP),
    "modem_wan_disconnected": ("modem_wan", DOWN), "modem_wan_unplugged": ("modem_wan", DOWN),
    "modem_wan_connected": ("modem_wan", UP),
    "wwan_disconnected": ("wwan", DOWN), "wwan_connected": ("wwan", UP),
    "wwan_network_unavailable": ("wwan_network", DOWN), "wwan_network_available": ("wwan_network", UP),
    "ipsec_tunnel_down": ("ipsec_tunnel", DOWN), "ipsec_tunnel_up": ("ipsec_tunnel", UP),
}
FAMILY_TYPES = {"connection": ("device_offline", Severity.CRITICAL), "ethernet_wan": ("wan_down", Severity.MAJOR),
                "modem_wan": ("modem_down", Severity.MAJOR), "wwan": ("wwan_down", Severity.MAJOR),
                "wwan_network": ("cellular_network_unavailable", Severity.MAJOR),
                "ipsec_tunnel": ("ipsec_tunnel_down", Severity.MAJOR)}
EVENT_ONLY = {"thermal_exceeds_limit": ("over_temperature", Severity.MAJOR),
              "sustained_system_overload": ("system_overload", Severity.MINOR),
              "cpu_utilization": ("high_cpu", Severity.WARNING), "memory_utilization": ("high_memory", Severity.WARNING),
              "data_cap_threshold": ("data_cap_exceeded", Severity.WARNING),
              "failover_event": ("wan_failover", Severity.WARNING), "sim_door_event": ("sim_door_opened", Severity.MINOR),
              "reboot_status_change": ("device_rebooted", Severity.INFO)}
RESOURCE_KEYS = ("uid", "tunname", "port", "iface", "interface", "name")


def router_id(alert: Mapping[str, Any]) -> str:
    router = alert.get("router")
    if isinstance(router, Mapping):  # expand=router
        return str(router.get("id") or "")
    if isinstance(router, (str, int)) and not isinstance(router, bool):
        return str(router).rstrip("/").rsplit("/", 1)[-1]
    return ""


def resource_of(alert: Mapping[str, Any]) -> str:
    info = alert["info"] if isinstance(alert.get("info"), Mapping) else {}
    return next((str(info[k]) for k in RESOURCE_KEYS if isinstance(info.get(k), (str, int)) and info.get(k) != ""), "")


def classify(alert: Mapping[str, Any]) -> tuple[str, str] | None:
    """(family, down|up) for paired types, ("event", type) for event-only, None for the rest."""
    kind = alert.get("type")
    if kind == "connection_state":
        info = alert["info"] if isinstance(alert.get("info"), Mapping) else {}
        online = info.get("online")
        text = str(info.get("state") or alert.get("friendly_info") or "").lower()
        if online is False or (online is None and ("offline" in text or "disconnected" in text)):
            return "connection", DOWN
        if online is True or (online is None and "online" in text):
            return "connection", UP
        return None
    if kind in PAIRED:
        return PAIRED[kind]
    if kind in EVENT_ONLY:
        return "event", kind
    return None


def key_of(alert: Mapping[str, Any], family: str) -> str:
    name = alert.get("type") if family == "event" else family
    return f"{router_id(alert)}/{name}/{resource_of(alert)}"


def our_type(item: Mapping[str, Any]) -> tuple[str, Severity]:
    family = item.get("family")
    if family in FAMILY_TYPES:
        return FAMILY_TYPES[family]
    return EVENT_ONLY.get(str(item.get("type")), ("ncm_alert", Severity.WARNING))


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    if event.payload.get("mode", "api") != "api":
        from .normalizer_snmp import normalize as normalize_snmp  # the SNMP mode's own normalizer
        return normalize_snmp(event, view)
    item = event.payload.get("item") or {}
    config = view.connectors.get(event.connector)
    alert_type, default = our_type(item)
    severity = severity_for(config, (item.get("type"), alert_type), default)
    rid = router_id(item)
    router = item["router"] if isinstance(item.get("router"), Mapping) else {}
    ip = ip_or_none(router.get("ipv4_address"))
    name = router.get("name") if isinstance(router.get("name"), str) and router.get("name") else None
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or name or \
        (f"ncm-router-{rid}" if rid else None)
    resource = resource_of(item)
    text = item.get("friendly_info") if isinstance(item.get("friendly_info"), str) else None
    label = alert_type.replace("_", " ")
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity,
        category=config.category if config and config.category else "network",
        title=f"{label.capitalize()} on {device_name or 'router'}" + (f" ({resource})" if resource else ""),
        device_ip=ip, device_name=device_name, resource_key=resource or alert_type, message=text,
        occurred_at=parse_time(item.get("detected_at")) or parse_time(item.get("created_at")),
        custom_fields={"ncm_type": item.get("type"), "ncm_router_id": rid or None,
                       "created_at_timeuuid": item.get("created_at_timeuuid")}),)
