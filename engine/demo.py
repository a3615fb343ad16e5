"""`opsc demo`: a site loses mains power, played through the real SNMP receiver and the
webhook endpoint of a running engine (`make run`), in about a minute.

The UPS goes on battery (Eaton trap), the access switch drops (the router's linkDown
trap; the reachability monitor reports the switch down), the cameras behind it become
unreachable and are suppressed under the switch; power returns and everything clears.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Callable

import httpx

SITE = {"router": "10.20.0.1", "switch": "10.20.0.2", "ups": "10.20.0.5", "cam1": "10.20.1.11", "cam2": "10.20.1.12"}
EATON = "1.3.6.1.4.1.534.1.11.4.1.0"
LINK_DOWN, LINK_UP = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4"
IF_INDEX, IF_OPER = "1.3.6.1.2.1.2.2.1.1.24", "1.3.6.1.2.1.2.2.1.8.24"
UPS_MESSAGE = "1.3.6.1.4.1.534.1.11.3.0"


async def send_trap(host: str, port: int, community: str, agent: str, trap_oid: str,
                    varbinds: list[tuple[str, object]]) -> None:
    """One SNMPv2c trap with pysnmp, carrying the device address in snmpTrapAddress.0
    (as a relay would: every demo trap comes from 127.0.0.1)."""
    from pysnmp.hlapi.v3arch.asyncio import (CommunityData, ContextData, NotificationType, ObjectIdentity,
                                             SnmpEngine, UdpTransportTarget, send_notification)
    from pysnmp.proto.rfc1902 import Integer32, IpAddress, OctetString

    def typed(value: object):
        return Integer32(value) if isinstance(value, int) else OctetString(str(value))

    engine = SnmpEngine()
    binds = [(ObjectIdentity("1.3.6.1.6.3.18.1.3.0"), IpAddress(agent))] + [(ObjectIdentity(o), typed(v)) for o, v in varbinds]
    error, *_ = await send_notification(engine, CommunityData(community, mpModel=1),
                                        await UdpTransportTarget.create((host, port)), ContextData(), "trap",
                                        NotificationType(ObjectIdentity(trap_oid)).add_varbinds(*binds))
    engine.close_dispatcher()
    if error:
        raise RuntimeError(f"trap not sent: {error}")


def play(server: str, trap_host: str, trap_port: int, token: str, community: str, pace: float,
         say: Callable[[str], None] = print) -> None:
    client = httpx.Client(base_url=server, timeout=10)
    try:
        client.get("/healthz").raise_for_status()
    except httpx.HTTPError as exc:
        raise SystemExit(f"opsc demo: no engine answers at {server} ({exc}); start one with `make run` first") from None

    def trap(agent: str, oid: str, varbinds: list[tuple[str, object]]) -> None:
        asyncio.run(send_trap(trap_host, trap_port, community, agent, oid, varbinds))

    def monitor(name: str, state: str, output: str) -> None:
        body = {"host": SITE[name], "name": f"site1-{name}", "check": "device_unreachable", "severity": "major",
                "category": "network", "title": f"Device Unreachable - site1-{name}", "output": output,
                "state": state}
        r = client.post("/api/v1/events/monitoring", content=json.dumps(body),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        if r.status_code != 202:
            raise SystemExit(f"opsc demo: the webhook refused the event: {r.status_code} {r.text[:300]}")

    steps = [
        ("Mains power lost at site1: the UPS goes on battery",
         lambda: trap(SITE["ups"], f"{EATON}.3", [(UPS_MESSAGE, "UPS on battery, utility failed")])),
        ("The access switch drops: the router sees its port go down",
         lambda: trap(SITE["router"], LINK_DOWN, [(IF_INDEX, 24), (IF_OPER, 2)])),
        ("The reachability monitor reports the switch down", lambda: monitor("switch", "down", "100% packet loss")),
        ("Cameras behind the switch stop answering (suppressed under the switch)",
         lambda: (monitor("cam1", "down", "100% packet loss"), monitor("cam2", "down", "100% packet loss"))),
        ("Battery is running low", lambda: trap(SITE["ups"], f"{EATON}.4", [(UPS_MESSAGE, "Battery low")])),
        ("Power returns: utility restored, battery recovering",
         lambda: (trap(SITE["ups"], f"{EATON}.5", [(UPS_MESSAGE, "Utility power restored")]),
                  trap(SITE["ups"], f"{EATON}.6", [(UPS_MESSAGE, "Battery no longer low")]))),
        ("The switch is back: link up, reachable again",
         lambda: (trap(SITE["router"], LINK_UP, [(IF_INDEX, 24), (IF_OPER, 1)]), monitor("switch", "ok", "rtt 1.2 ms"))),
        ("Cameras answer again (quietly: they were only symptoms)",
         lambda: (monitor("cam1", "ok", "rtt 0.9 ms"), monitor("cam2", "ok", "rtt 1.1 ms"))),
    ]
    for i, (text, action) in enumerate(steps, 1):
        say(f"[{i}/{len(steps)}] {text}")
        action()
        time.sleep(pace if i < len(steps) else 0)
    say(f"Done. Look at {server}/ (overview), {server}/alerts?status=resolved (the trail of each alert) "
        f"and {server}/dependencies (the topology).")


def main_args(args) -> int:
    token = os.environ.get("MONITORING_WEBHOOK_TOKEN")
    if not token:
        print("opsc demo: set MONITORING_WEBHOOK_TOKEN to the token the engine's monitoring webhook expects "
              "(`make run` and `make demo` share one for this checkout)", file=sys.stderr)
        return 2
    community = os.environ.get("OPSC_SNMP_COMMUNITY", "public")
    play(args.server.rstrip("/"), args.trap_host, args.trap_port, token, community, args.pace)
    return 0
