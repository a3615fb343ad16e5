"""Ubiquiti UISP outage events → alerts.

An ongoing outage (type "outage": the device is unreachable) → alert_type device_down,
severity major by default (UISP networks are mostly subscriber radios; set
`severity_map: {outage: critical}` or `{device_down: …}` to change it). Device: name from
identification.name (the inventory name for its IP wins), IP from the device's ipAddress
(a CIDR suffix is dropped). resource_key: the UISP device id; source_alert_id: the outage id.
category: wireless for wireless devices, else network (unless the connector sets one).
"""
from __future__ import annotations

from typing import Any, Mapping

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, parse_time, poll_alert, severity_for

ALERT_TYPE = "device_down"
DEFAULT_SEVERITY = Severity.MAJOR


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    item = event.payload.get("item") or {}
    config = view.connectors.get(event.connector)
    detail: Mapping[str, Any] = item.get("device_detail") or item.get("device") or {}
    outage_type = item.get("type") if isinstance(item.get("type"), str) else "outage"
    severity = severity_for(config, (outage_type, ALERT_TYPE), DEFAULT_SEVERITY)
    ip = ip_or_none(detail.get("ipAddress"))
    uisp_name = detail.get("name") if isinstance(detail.get("name"), str) else None
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or uisp_name or ip
    device_id = str(detail.get("id") or "")
    site = item["site"] if isinstance(item.get("site"), Mapping) else {}
    site_name = detail.get("site") or site.get("name")
    if config and config.category:
        category = config.category
    else:
        category = "wireless" if str(detail.get("category", "")).lower() == "wireless" else "network"
    return (poll_alert(
        event, view, alert_type=ALERT_TYPE, severity=severity, category=category,
        title=f"{device_name or device_id or 'UISP device'} is down" + (f" ({site_name})" if site_name else ""),
        device_ip=ip, device_name=device_name, resource_key=device_id or str(event.payload.get("key", "")),
        message=f"UISP outage since {item.get('startTimestamp')}" if item.get("startTimestamp") else None,
        occurred_at=parse_time(item.get("startTimestamp")),
        custom_fields={"uisp_outage_id": item.get("id"), "uisp_device_id": device_id or None,
                       "site": site_name, "model": detail.get("model"), "device_type": detail.get("type"),
                       "role": detail.get("role")}),)
