"""Ciena MCP: active alarms, polled through its REST API."""
from __future__ import annotations

from ..spec import ConnectorType

CONNECTORS = (ConnectorType("mcp", __name__, normalizer="normalizer:normalize", poller="connector:McpConnector",
                            fake="tests/fakes/mcp.py"),)
