"""Ciena MCP alarm events → alerts.

condition-severity → severity (CRITICAL critical, MAJOR major, MINOR minor, WARNING warning,
INFO/INDETERMINATE info), overridable with `severity_map` keyed by the condition-severity
("MAJOR") or the native condition type ("LOS"). alert_type is the native-condition-type as
snake case ("LOS" → los, "Link Down" → link_down), mcp_alarm when absent. Device: the node's
ip-address and device-name (the inventory name for that IP wins). resource_key: the alarm's
resource (resource-id, additional-attrs.source as fallbacks). category: network, unless the
connector sets one.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, parse_time, poll_alert, severity_for

SEVERITIES = {
    "CRITICAL": Severity.CRITICAL, "MAJOR": Severity.MAJOR, "MINOR": Severity.MINOR,
    "WARNING": Severity.WARNING, "INFO": Severity.INFO, "INDETERMINATE": Severity.INFO,
}


def alert_type_of(item: Mapping[str, Any]) -> str:
    text = item.get("native-condition-type")
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") if isinstance(text, str) else ""
    return slug or "mcp_alarm"


def resource_of(item: Mapping[str, Any]) -> str:
    for key in ("resource", "resource-id"):
        if isinstance(item.get(key), str) and item[key]:
            return item[key]
    extra = item.get("additional-attrs")
    if isinstance(extra, Mapping) and isinstance(extra.get("source"), str):
        return extra["source"]
    return ""


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) and value else None


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    item = event.payload.get("item") or {}
    config = view.connectors.get(event.connector)
    code = (_text(item, "condition-severity") or "INDETERMINATE").upper()
    alert_type = alert_type_of(item)
    severity = severity_for(config, (code, item.get("native-condition-type"), alert_type),
                            SEVERITIES.get(code, Severity.INFO))
    ip = ip_or_none(item.get("ip-address"))
    mcp_name = _text(item, "device-name") or _text(item, "device-long-name")
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or mcp_name or ip
    resource = resource_of(item)
    condition = _text(item, "native-condition-type") or "alarm"
    text = _text(item, "additional-text") or _text(item, "native-condition-type-qualifier")
    where = f"{device_name or ip or 'unknown node'}" + (f" {resource}" if resource else "")
    affecting = _text(item, "service-affecting") or _text(item, "service-affection")
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity,
        category=config.category if config and config.category else "network",
        title=f"{condition} on {where}" + (f": {text}" if text else ""),
        device_ip=ip, device_name=device_name, resource_key=resource, message=text,
        occurred_at=parse_time(item.get("last-raise-time")) or parse_time(item.get("first-raise-time")),
        custom_fields={"mcp_alarm_id": item.get("id"), "condition_severity": code,
                       "native_condition_type": item.get("native-condition-type"),
                       "service_affecting": affecting == "SERVICE_AFFECTING" if affecting else None,
                       "acknowledged": item.get("acknowledge-state") == "ACKNOWLEDGED",
                       "node_type": item.get("node-type"), "node_id": item.get("node-id") or item.get("device-id"),
                       "occurrences": item.get("number-of-occurrences", item.get("number-of-occurances"))}),)
