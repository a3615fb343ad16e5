"""Eaton UPS: polled over SNMP (XUPS-MIB), or through the Network-M2 card's REST API."""
from __future__ import annotations

from ..spec import ConnectorType, needs_targets

CONNECTORS = (
    # Unreachable is a device down; on battery or a low battery is not (power still flows).
    ConnectorType("eaton", __name__, normalizer="normalizer:normalize", poller="poller:EatonPoller",
                  root_causes={"device_unreachable": "device_down"}, check=needs_targets),
    ConnectorType("eaton_rest", __name__, normalizer="normalizer_rest:normalize", poller="rest:EatonRestConnector",
                  schema="rest.schema.json", fake="tests/fakes/network_m2.py"),
)
