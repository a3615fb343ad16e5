"""Siklu SNMP poller events → alerts (source_system `siklu`, category wireless).

Default severities (override with `severity_map` keyed by the alert type): siklu_rf_link_down
critical, rssi_low minor, cinr_low minor, modulation_drop warning, device_unreachable major
(category network). siklu_rf_link_down is named like the trap maps' alarm types
(oidmaps/siklu.yaml), but trap alerts have source_system snmp_trap: the two never merge.
"""
from __future__ import annotations

from ...model import Alert, RawEvent, Severity
from ..snmp.poll_alerts import Kind, normalize_item

KINDS = {
    "siklu_rf_link_down": Kind(Severity.CRITICAL, "wireless", "RF link down"),
    "rssi_low": Kind(Severity.MINOR, "wireless", "RSSI low"),
    "cinr_low": Kind(Severity.MINOR, "wireless", "CINR low"),
    "modulation_drop": Kind(Severity.WARNING, "wireless", "modulation drop"),
}


def normalize(event: RawEvent, view) -> tuple[Alert, ...]:
    return normalize_item(event, view, KINDS, "Radio")
