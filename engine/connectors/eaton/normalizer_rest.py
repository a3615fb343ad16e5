"""Eaton Network-M2/M3 REST alarms → alerts (type `eaton_rest`).

level → severity: 7 or "critical" critical, 6 or "warning" warning, 5 or "info" info; 4 / "good"
is not a problem (a tracked alarm clears). "major"/"minor"/"alarm" are accepted as texts too.
`severity_map` overrides, keyed by the level (as text: "7", "warning") or the alarm code
("1201"). alert_type: temperature_alarm for codes 1201-1204, humidity_alarm for 1211-1214
(category environment), else ups_alarm (category power). Device: the card's address (the
connector's url host) and its inventory name; resource_key: the alarm code plus the sensor
device it concerns (`device/@id`), so one code on two sensors is two alerts.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import ip_or_none, parse_time, poll_alert, severity_for

LEVELS = {4: "good", 5: "info", 6: "warning", 7: "critical"}
TEXTS = {"good": "good", "ok": "good", "normal": "good", "info": "info", "information": "info",
         "warning": "warning", "minor": "warning", "critical": "critical", "major": "critical", "alarm": "critical"}
SEVERITIES = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
INACTIVE = frozenset({"inactive", "cleared", "resolved", "closed", "ended"})


def level_name(level: Any) -> str | None:
    if isinstance(level, bool):
        return None
    if isinstance(level, int):
        return LEVELS.get(level)
    if isinstance(level, str):
        text = level.strip().lower()
        return LEVELS.get(int(text)) if text.isdigit() else TEXTS.get(text)
    return None


def is_problem(alarm: Mapping[str, Any]) -> bool:
    if level_name(alarm.get("level")) in (None, "good"):
        return False
    return str(alarm.get("state") or "active").strip().lower() not in INACTIVE


def alert_type_of(code: str) -> tuple[str, str]:
    if code.isdigit() and 1201 <= int(code) <= 1204:
        return "temperature_alarm", "environment"
    if code.isdigit() and 1211 <= int(code) <= 1214:
        return "humidity_alarm", "environment"
    return "ups_alarm", "power"


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    item = event.payload.get("item") or {}
    config = view.connectors.get(event.connector)
    code = str(item.get("code") or "")
    level = level_name(item.get("level")) or "warning"
    alert_type, category = alert_type_of(code)
    severity = severity_for(config, (item.get("level"), level, code, alert_type), SEVERITIES.get(level, Severity.WARNING))
    url = config.settings.get("url") if config else None
    host = urlsplit(url).hostname if isinstance(url, str) else None
    ip = ip_or_none(host) or ip_or_none(event.source_address)
    device_name = (view.device_name(ip) if ip and ip in view.devices_by_ip else None) or host or ip
    device = item["device"] if isinstance(item.get("device"), Mapping) else {}
    sensor = device.get("@id") if isinstance(device.get("@id"), str) else ""
    resource = f"{code}@{sensor.rsplit('/', 1)[-1]}" if sensor else code
    text = item.get("description") or item.get("message")
    text = text if isinstance(text, str) and text else f"alarm code {code}"
    stamp = item.get("timestamp")
    occurred = parse_time(stamp) if isinstance(stamp, str) else None
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) and stamp > 0:
        occurred = datetime.fromtimestamp(stamp / 1000 if stamp > 1e11 else stamp, tz=timezone.utc)
    return (poll_alert(
        event, view, alert_type=alert_type, severity=severity,
        category=config.category if config and config.category else category,
        title=f"{text} on {device_name or 'UPS'}", device_ip=ip, device_name=device_name, resource_key=resource,
        message=text, occurred_at=occurred,
        custom_fields={"eaton_alarm_id": item.get("id"), "code": code, "level": item.get("level"),
                       "sensor": sensor or None}),)
