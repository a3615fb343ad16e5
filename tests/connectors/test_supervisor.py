"""The connector supervisor: a connector that cannot start is retried with back-off until
it starts, and says why it fails meanwhile (for /healthz and the connectors page).

A real trap receiver on a real UDP port held by another socket; back-off shortened so
the test waits for events (the retry succeeding), never for a fixed time.
"""
from __future__ import annotations

import asyncio
import socket
from types import MappingProxyType

from opsconductor.engine.config.bundle import Bundle, ConnectorConfig, Source
from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.connectors.supervisor import ConnectorSupervisor
from waiting import aeventually


def trap_config(port: int) -> ConnectorConfig:
    settings = {"listen": (f"127.0.0.1:{port}",), "communities": (Secret("${env:C}", "public"),), "v3_users": ()}
    return ConnectorConfig(name="traps", type="snmp_trap", enabled=True, display_name="traps", poll_interval=60.0,
                           timeout=10.0, retries=3, tags=(), category=None, severity_map=MappingProxyType({}),
                           settings=MappingProxyType(settings), source=Source("connectors.d/traps.yaml", 1))


def bundle(*connectors: ConnectorConfig) -> Bundle:
    return Bundle(root=".", content_hash="x" * 64, git_commit=None, files=(), connectors=connectors)


def test_a_connector_that_cannot_bind_is_retried_until_it_can():
    async def scenario():
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        supervisor = ConnectorSupervisor(lambda events: None, retry_first=0.02, retry_max=0.1)
        try:
            report = await supervisor.reconcile(bundle(trap_config(port)))
            assert report["started"] == [] and "traps" not in supervisor.running
            await aeventually(lambda: supervisor.attempts.get("traps", 0) >= 3, "it keeps trying: three attempts")
            (reason,) = supervisor.reasons()
            assert reason.startswith("connector traps is failing: traps: listen: cannot bind 127.0.0.1:")
            assert "Address already in use" in reason and "retrying in" in reason
            (status,) = supervisor.statuses(bundle(trap_config(port)))
            assert status.status == "failing" and "cannot bind" in status.error_message
            taken.close()  # the port is free: the next retry binds it
            await aeventually(lambda: "traps" in supervisor.running, "a retry binds the freed port")
            assert supervisor.reasons() == [] and supervisor.errors == {} and supervisor.attempts == {}
            assert supervisor.running["traps"].bound_addresses == [("127.0.0.1", port)]
        finally:
            taken.close()
            await supervisor.stop_all()

    asyncio.run(scenario())


def test_a_removed_or_changed_connector_stops_being_retried():
    async def scenario():
        taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        supervisor = ConnectorSupervisor(lambda events: None, retry_first=0.02, retry_max=0.05)
        try:
            await supervisor.reconcile(bundle(trap_config(port)))
            await aeventually(lambda: supervisor.attempts.get("traps", 0) >= 2, "two attempts")
            await supervisor.reconcile(bundle())  # removed: no more retries, no more reason
            assert supervisor.reasons() == [] and supervisor._retries == {}
            await supervisor.reconcile(bundle(trap_config(port)))
            await aeventually(lambda: supervisor.attempts.get("traps", 0) >= 2, "two attempts")
            moved = trap_config(0)  # changed: started at once with the new config
            report = await supervisor.reconcile(bundle(moved))
            assert report["started"] == ["traps"] and supervisor.reasons() == []
            assert supervisor._retries == {}
        finally:
            taken.close()
            await supervisor.stop_all()

    asyncio.run(scenario())
