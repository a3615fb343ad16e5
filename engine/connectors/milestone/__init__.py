"""Milestone XProtect: cameras offline and events, polled through its API."""
from __future__ import annotations

from ..spec import ConnectorType

CONNECTORS = (ConnectorType("milestone", __name__, normalizer="normalizer:normalize",
                            poller="connector:MilestoneConnector", root_causes={"camera_offline": "device_down"},
                            fake="tests/fakes/milestone.py"),)
