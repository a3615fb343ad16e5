"""Eaton SNMP poller events → alerts (source_system `eaton`).

Default severities (override with `severity_map`, keyed by the alert type or, for
low_battery, the level `low` / `depleted`); category power, device_unreachable network:

| alert_type | severity |
|---|---|
| low_battery | critical |
| on_battery | major |
| output_overload | minor |
| battery_capacity_low | minor |
| input_voltage_out_of_range | minor |
| device_unreachable | major |

on_battery and low_battery carry the trap maps' names (oidmaps/eaton.yaml), but trap alerts
have source_system snmp_trap, so a polled and a trapped on_battery are two alerts.
"""
from __future__ import annotations

from ...model import Alert, RawEvent, Severity
from ..snmp.poll_alerts import Kind, normalize_item

KINDS = {
    "on_battery": Kind(Severity.MAJOR, "power", "UPS on battery"),
    "low_battery": Kind(Severity.CRITICAL, "power", "UPS battery low"),
    "battery_capacity_low": Kind(Severity.MINOR, "power", "UPS battery capacity low"),
    "output_overload": Kind(Severity.MINOR, "power", "UPS output overload"),
    "input_voltage_out_of_range": Kind(Severity.MINOR, "power", "UPS input voltage out of range"),
}


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    return normalize_item(event, view, KINDS, "UPS")
