"""Helpers shared by the vendor normalizers: severity mapping with config overrides,
the raise/clear alert of a polled item, IP and time parsing."""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Mapping

from ..config.bundle import ConnectorConfig
from ..model import Alert, RawEvent, Severity


def severity_for(config: ConnectorConfig | None, candidates: tuple[Any, ...], default: Severity) -> Severity:
    """The connector's `severity_map` entry for the first candidate that has one (vendor code,
    status text, alert type; compared as text, case-insensitively), else the default."""
    if config is not None and config.severity_map:
        table = {str(k).lower(): v for k, v in config.severity_map.items()}
        for candidate in candidates:
            if candidate is not None and str(candidate).lower() in table:
                return Severity(table[str(candidate).lower()])
    return default


def poll_alert(event: RawEvent, view: Any, *, alert_type: str, severity: Severity, category: str | None,
               title: str, device_ip: str | None, device_name: str | None, resource_key: str,
               message: str | None = None, occurred_at: datetime | None = None,
               custom_fields: Mapping[str, Any] | None = None) -> Alert:
    """The Alert for a polling connector's raise or clear event. A clear carries severity CLEAR,
    is_clear and clears=(alert_type,), with the raise's device and resource key, so it resolves it."""
    config = view.connectors.get(event.connector)
    clear = event.payload.get("state") == "clear"
    device = view.identify(device_ip, device_name)  # the one identity (engine/identity.py)
    return Alert(
        source_system=event.source_system, source_alert_id=str(event.payload.get("key", "")),
        severity=Severity.CLEAR if clear else severity,
        category=category or (config.category if config else None) or "unknown",
        alert_type=alert_type, title=(f"Cleared: {title}" if clear else title)[:255], message=message,
        occurred_at=event.received_at if clear or occurred_at is None else occurred_at,
        received_at=event.received_at,
        fingerprint=device.fingerprint(event.source_system, alert_type, resource_key),
        device_ip=device.ip, device_name=device.name, resource_key=resource_key,
        is_clear=clear, clears=(alert_type,) if clear else (), tags=tuple(config.tags) if config else (),
        custom_fields=MappingProxyType(dict(custom_fields or {})), connector=event.connector,
        raw_data=MappingProxyType(dict(event.payload.get("item") or {})))


def ip_or_none(text: Any) -> str | None:
    """`text` as an IP address ("10.0.0.5/24" → "10.0.0.5"), or None when it is not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return str(ipaddress.ip_interface(text.strip()).ip)
    except ValueError:
        return None


def parse_time(text: Any) -> datetime | None:
    """ISO-8601 as vendors write it ('…Z', '…T18:35:55:00Z' with a colon before the ms), or None."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    value = re.sub(r"(T\d\d:\d\d:\d\d):(\d+)", r"\1.\2", value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
