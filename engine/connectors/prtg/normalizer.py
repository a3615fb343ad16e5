"""PRTG sensor events → alerts.

Mapping (status_raw → alert_type, default severity), overridable with `severity_map` keyed by
the code ("5"), the status text ("down", "down (acknowledged)") or the alert type:

| status_raw | meaning | alert_type | severity |
|---|---|---|---|
| 5 | Down | sensor_down | critical |
| 13 | Down (Acknowledged) | sensor_down | critical (acknowledged is shown, not downgraded) |
| 14 | Down (Partial), cluster | sensor_down | major |
| 4 | Warning | sensor_warning | warning |
| 10 | Unusual | sensor_unusual | minor |
| 1 | Unknown (only when listed in filter_status) | sensor_unknown | warning |
| 6 | No Probe (only when listed in filter_status) | sensor_no_probe | major |
| 2, 3, 7, 8, 9, 11, 12 | collecting, up, paused | not a problem (a tracked one clears) | |

Device: the parent device's `host` (joined by the connector) when it is an IP, else an IP in
the device name's "(10.1.2.3)" suffix; the name is the inventory name for that IP, else
PRTG's device name. resource_key and source_alert_id are the sensor objid.
"""
from __future__ import annotations

import html
import re
from typing import Any, Mapping

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, poll_alert, severity_for

STATUSES: dict[int, tuple[str, Severity, str]] = {
    5: ("sensor_down", Severity.CRITICAL, "Down"),
    13: ("sensor_down", Severity.CRITICAL, "Down (Acknowledged)"),
    14: ("sensor_down", Severity.MAJOR, "Down (Partial)"),
    4: ("sensor_warning", Severity.WARNING, "Warning"),
    10: ("sensor_unusual", Severity.MINOR, "Unusual"),
    1: ("sensor_unknown", Severity.WARNING, "Unknown"),
    6: ("sensor_no_probe", Severity.MAJOR, "No Probe"),
}
_IP_SUFFIX = re.compile(r"^(?P<name>.*?)\s*\((?P<ip>[0-9A-Fa-f:.]+)\)\s*$")
_TAGS = re.compile(r"<[^>]+>")


def status_kind(status_raw: Any) -> str | None:
    """The alert type of a status code, or None when the status is not a problem."""
    entry = STATUSES.get(status_raw) if isinstance(status_raw, int) and not isinstance(status_raw, bool) else None
    return entry[0] if entry else None


def device_of(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(ip, PRTG's device name without an "(ip)" suffix)."""
    name = item.get("device") if isinstance(item.get("device"), str) else None
    ip = ip_or_none(item.get("host"))
    if name:
        m = _IP_SUFFIX.match(name)
        if m and ip_or_none(m.group("ip")):
            ip = ip or ip_or_none(m.group("ip"))
            name = m.group("name") or name
    if ip is None and name is None and isinstance(item.get("host"), str):
        name = item["host"]  # a DNS name
    return ip, name


def message_of(item: Mapping[str, Any]) -> str | None:
    text = item.get("message_raw") or item.get("message")
    if not isinstance(text, str) or not text.strip():
        return None
    return " ".join(html.unescape(_TAGS.sub(" ", text)).split())[:2000]


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    item = event.payload.get("item") or {}
    status = item.get("status_raw")
    entry = STATUSES.get(status) if isinstance(status, int) else None
    if entry is None:
        return ()
    alert_type, default, label = entry
    config = view.connectors.get(event.connector)
    status_text = item.get("status") if isinstance(item.get("status"), str) else label
    severity = severity_for(config, (status, status_text, label, alert_type), default)
    ip, prtg_name = device_of(item)
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or prtg_name or ip
    if ip is None and device_name is None and item.get("parentid") is not None:
        device_name = f"prtg-device-{item['parentid']}"
    sensor = item.get("sensor") if isinstance(item.get("sensor"), str) else f"sensor {item.get('objid')}"
    objid = str(item.get("objid", event.payload.get("key", "")))
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity,
        category=config.category if config and config.category else "network",
        title=f"{sensor} on {device_name or ip or 'unknown device'} is {status_text}",
        device_ip=ip, device_name=device_name, resource_key=objid, message=message_of(item),
        custom_fields={"prtg_sensor_id": item.get("objid"), "prtg_device_id": item.get("parentid"),
                       "prtg_status": status_text, "prtg_status_raw": status, "prtg_group": item.get("group"),
                       "prtg_probe": item.get("probe"), "prtg_sensor_type": item.get("type"),
                       "acknowledged": status == 13, "last_value": item.get("lastvalue")}),)
