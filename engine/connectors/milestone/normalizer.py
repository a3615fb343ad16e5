"""Milestone XProtect alarms → alerts.

Priority → severity (the XProtect defaults): High (1) major, Medium (2) minor, Low (3) warning;
an unknown priority is warning. `severity_map` overrides, keyed by the priority name ("High"),
its number, or the alarm name ("Camera tampering - Lobby"). State: New (1), In progress (4) and
On hold (9) are open (In progress / On hold set `acknowledged` in the custom fields); Closed (11)
clears. alert_type from the alarm name's wording: tampering → camera_tampering, motion →
motion_detected, "communication"/"disconnected"/"not responding"/"offline" → camera_offline,
recording/storage/disk/database → recording_failure, else vms_alarm. Device: the alarm's
source (camera) name; resource_key: the source id (else the alarm name). category: video.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, parse_time, poll_alert, severity_for

PRIORITIES = {"high": Severity.MAJOR, "1": Severity.MAJOR, "medium": Severity.MINOR, "2": Severity.MINOR,
              "low": Severity.WARNING, "3": Severity.WARNING}
STATES = {"1": "New", "4": "In progress", "9": "On hold", "11": "Closed"}
KINDS = (
    (re.compile(r"tamper", re.I), "camera_tampering"),
    (re.compile(r"motion", re.I), "motion_detected"),
    (re.compile(r"communication|disconnect|not respond|offline|connection lost", re.I), "camera_offline"),
    (re.compile(r"recording|storage|disk|database|archiv", re.I), "recording_failure"),
)


def name_of(value: Any, numbers: Mapping[str, str] | None = None) -> str | None:
    """`{"id", "name"}` → name (id when nameless); a plain value as text, named by `numbers`."""
    if isinstance(value, Mapping):
        value = value.get("name") if value.get("name") is not None else value.get("id")
    if value is None or isinstance(value, bool):
        return None
    text = str(value)
    return (numbers or {}).get(text, text)


def is_closed(alarm: Mapping[str, Any]) -> bool:
    return (name_of(alarm.get("state"), STATES) or "").strip().lower() == "closed"


def alert_type_of(alarm: Mapping[str, Any]) -> str:
    text = " ".join(str(alarm.get(k) or "") for k in ("name", "message"))
    return next((kind for pattern, kind in KINDS if pattern.search(text)), "vms_alarm")


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    item = event.payload.get("item") or {}
    config = view.connectors.get(event.connector)
    priority = name_of(item.get("priority")) or ""
    state = name_of(item.get("state"), STATES) or "New"
    name = item["name"] if isinstance(item.get("name"), str) and item.get("name") else "Milestone alarm"
    alert_type = alert_type_of(item)
    severity = severity_for(config, (priority, name, alert_type), PRIORITIES.get(priority.lower(), Severity.WARNING))
    source = item.get("source")
    if isinstance(source, Mapping):
        source_name, source_id = source.get("name"), source.get("id")
    else:
        source_name, source_id = None, source
    source_name = source_name if isinstance(source_name, str) and source_name else None
    ip = ip_or_none(source_name)
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or source_name
    message = item.get("message") if isinstance(item.get("message"), str) and item.get("message") else None
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity,
        category=config.category if config and config.category else "video",
        title=name if not device_name or device_name in name else f"{name} - {device_name}",
        device_ip=ip, device_name=device_name, resource_key=str(source_id or name), message=message,
        occurred_at=parse_time(item.get("time")),
        custom_fields={"milestone_alarm_id": item.get("id"), "local_id": item.get("localId"), "priority": priority or None,
                       "state": state, "acknowledged": state.lower() in ("in progress", "on hold"),
                       "alarm_name": name}),)
