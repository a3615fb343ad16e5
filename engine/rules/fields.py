"""The flat view of an alert that rules and silences match on."""
from __future__ import annotations

from typing import Any

from ..model import Alert, Severity

MATCH_FIELDS = ("source_system", "connector", "device_ip", "device_name", "severity", "category", "alert_type",
                "title", "message", "tags", "impact", "urgency", "priority", "is_clear", "resource_key", "status",
                "source_alert_id", "site")


def alert_fields(alert: Alert, site: str | None = None) -> dict[str, Any]:
    """Field name → value for matching; custom fields as `custom_fields.NAME`."""
    fields: dict[str, Any] = {
        "source_system": alert.source_system, "connector": alert.connector, "device_ip": alert.device_ip,
        "device_name": alert.device_name, "severity": alert.severity.value, "category": alert.category,
        "alert_type": alert.alert_type, "title": alert.title, "message": alert.message, "tags": alert.tags,
        "impact": alert.impact, "urgency": alert.urgency, "priority": alert.priority, "is_clear": alert.is_clear,
        "resource_key": alert.resource_key, "status": alert.status.value, "source_alert_id": alert.source_alert_id,
        "site": site,
    }
    for key, value in alert.custom_fields.items():
        fields[f"custom_fields.{key}"] = value
    return fields


_RANKS = {s.value: s.rank for s in Severity}


def severity_rank(name: str) -> int:
    try:
        return _RANKS[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a severity") from None
