"""Webhook RawEvents (built by receiver.accept) → alerts.

Severity: the connector's `severity_map` (keyed by the body's severity or status text, or the
alert type) wins; else the text itself when it is one of ours; else a few common words
(`error`/`high` major, `warn` warning, `low`/`none`/`informational` info, `page` critical);
else warning. A clear (clear_when true/"resolved", Alertmanager status resolved) carries
severity clear and clears its alert type on the same device and resource key.

Device: `device_ip` when it is an IP address, and `device_name` (Alertmanager: labels.instance
without its port, as an IP or as a name). alert_type: the mapped text in snake case
(`HighCPU` → `high_cpu`), `webhook_alert` when absent. category: mapped, else the connector's,
else `application`.
"""
from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

from ...model import Alert, RawEvent, Severity
from ..normalize_helpers import parse_time, severity_for

WORDS = {"error": Severity.MAJOR, "high": Severity.MAJOR, "page": Severity.CRITICAL, "crit": Severity.CRITICAL,
         "fatal": Severity.CRITICAL, "emergency": Severity.CRITICAL, "warn": Severity.WARNING,
         "medium": Severity.MINOR, "low": Severity.INFO, "none": Severity.INFO, "informational": Severity.INFO,
         "notice": Severity.INFO, "ok": Severity.INFO}
CATEGORIES = frozenset({"network", "power", "video", "wireless", "security", "environment", "compute", "storage",
                        "application", "unknown"})


def snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text.strip())
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:100]


def _severity(config, fields: dict, alert_type: str) -> Severity:
    text = str(fields.get("severity") or "").strip().lower()
    default = Severity.WARNING
    if text in {s.value for s in Severity} and text != "clear":
        default = Severity(text)
    elif text in WORDS:
        default = WORDS[text]
    return severity_for(config, (fields.get("severity"), fields.get("status"), fields.get("alert_type"), alert_type),
                        default)


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    fields: dict[str, Any] = dict(event.payload.get("fields") or {})
    config = view.connectors.get(event.connector)
    alert_type = snake(str(fields.get("alert_type") or "")) or snake(str(fields.get("title") or ""))[:60] \
        or "webhook_alert"
    clear = bool(fields.get("clear"))
    raw_ip = fields.get("device_ip") or fields.get("device")
    device = view.identify(str(raw_ip) if raw_ip else None, fields.get("device_name"))  # engine/identity.py
    ip, device_name = device.ip, device.name
    category = str(fields.get("category") or "").lower()
    if category not in CATEGORIES:
        category = (config.category if config and config.category else None) or "application"
    resource = str(fields.get("resource_key") or "")
    title = str(fields.get("title") or fields.get("alert_type") or alert_type)
    if device_name and device_name not in title:
        title = f"{title} - {device_name}"
    occurred = parse_time(fields.get("occurred_at")) or event.received_at
    custom = {k: fields[k] for k in ("status", "labels", "generator_url") if fields.get(k) is not None}
    if fields.get("severity") is not None:
        custom["source_severity"] = fields["severity"]
    custom["format"] = event.payload.get("format")
    return (Alert(
        source_system=event.source_system, source_alert_id=str(fields.get("source_alert_id") or resource or ""),
        severity=Severity.CLEAR if clear else _severity(config, fields, alert_type), category=category,
        alert_type=alert_type, title=(f"Cleared: {title}" if clear else title)[:255],
        message=str(fields["message"]) if fields.get("message") else None,
        occurred_at=occurred, received_at=event.received_at,
        fingerprint=device.fingerprint(event.source_system, alert_type, resource),
        device_ip=ip, device_name=device_name, resource_key=resource, is_clear=clear,
        clears=(alert_type,) if clear else (), tags=tuple(config.tags) if config else (),
        custom_fields=MappingProxyType(custom), connector=event.connector,
        raw_data=MappingProxyType(dict(event.payload.get("item") or {}))),)
