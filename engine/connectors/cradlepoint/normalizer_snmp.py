"""Cradlepoint SNMP poller events → alerts (source_system `cradlepoint`, category network).

`normalize_snmp` handles the SNMP mode's events only: their payload has "mode": "snmp"
(`is_snmp_event`). A combined cradlepoint normalizer can dispatch on that (API-mode events lack it).
Default severities (override with `severity_map`, keyed by the alert type or by the modem
status name, e.g. `error` or `disconnected`): wan_down major, device_unreachable major.
"""
from __future__ import annotations

from ...model import Alert, RawEvent, Severity
from ..snmp.poll_alerts import Kind, normalize_item

KINDS = {"wan_down": Kind(Severity.MAJOR, "network", "WAN down")}


def is_snmp_event(event: RawEvent) -> bool:
    return event.payload.get("mode") == "snmp"


def normalize_snmp(event: RawEvent, view) -> tuple[Alert, ...]:
    return normalize_item(event, view, KINDS, "Router")


normalize = normalize_snmp  # the name cradlepoint/normalizer.py (mode api) dispatches to
