"""The alerts of the SNMP pollers' raise/clear events (eaton, siklu, cradlepoint in SNMP mode).

Apart from poller.py so that the normalizers load without the pollers' I/O (asyncio, httpx
through connectors.base): a rule test that hands a poller's event to its normalizer (a
`payload:` step) loads this and nothing of the poller."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, poll_alert, severity_for

UNREACHABLE = "device_unreachable"


@dataclass(frozen=True)
class Kind:
    """How one alert type of a poller becomes an alert: default severity, category, label."""
    severity: Severity
    category: str
    label: str  # e.g. "on battery"; the title is "<device kind> <device>: <item text>"


UNREACHABLE_KIND = Kind(Severity.MAJOR, "network", "device unreachable")


def normalize_item(event: RawEvent, view: Any, kinds: Mapping[str, Kind], device_kind: str) -> tuple[Alert, ...]:
    """The alert of a poller raise/clear event; `kinds` maps the vendor's alert types."""
    item = event.payload.get("item") or {}
    alert_type = item.get("alert_type")
    if not isinstance(alert_type, str):  # the kinds are named by text (the poller writes one)
        return ()
    kind = UNREACHABLE_KIND if alert_type == UNREACHABLE else kinds.get(alert_type)
    if kind is None:
        return ()
    config = view.connectors.get(event.connector)
    host = str(item.get("host") or "")
    ip = ip_or_none(host)
    name = item.get("device_name") or (view.device_name(ip) if ip else None) or host
    severity = severity_for(config, (alert_type, item.get("level")), kind.severity)
    text = item.get("text") or kind.label
    readings = {k: v for k, v in item.items() if k not in ("text", "host", "port", "target", "device_name")}
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity, category=kind.category,
        title=f"{device_kind} {name}: {text}", device_ip=ip, device_name=name,
        resource_key=str(item.get("resource_key") or ""),
        message=f"{kind.label} on {name} ({host}:{item.get('port')}): {text}",
        custom_fields={"snmp_target": item.get("target"), **readings}),)
