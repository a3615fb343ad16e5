"""Axis cameras: reachability and state, polled over VAPIX."""
from __future__ import annotations

from ..spec import ConnectorType

CONNECTORS = (ConnectorType("axis", __name__, normalizer="normalizer:normalize", poller="connector:AxisConnector",
                            root_causes={"device_unreachable": "device_down"}, fake="tests/fakes/axis.py"),)
