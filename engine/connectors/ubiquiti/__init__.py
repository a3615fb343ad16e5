"""Ubiquiti UISP: device outages, polled through its API."""
from __future__ import annotations

from ..spec import ConnectorType

CONNECTORS = (ConnectorType("ubiquiti", __name__, normalizer="normalizer:normalize", poller="connector:UispConnector",
                            root_causes={"device_down": "device_down"}, fake="tests/fakes/uisp.py"),)
