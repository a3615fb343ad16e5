"""Siklu radios: RF link and readings, polled over SNMP."""
from __future__ import annotations

from ..spec import ConnectorType, needs_targets

CONNECTORS = (ConnectorType("siklu", __name__, normalizer="normalizer:normalize", poller="poller:SikluPoller",
                            root_causes={"device_unreachable": "device_down", "siklu_rf_link_down": "device_down"},
                            check=needs_targets),)
