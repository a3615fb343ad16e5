"""Cradlepoint routers over SNMP (connector type `cradlepoint`, `mode: snmp`): WAN state of the
cellular modems from WIPIPE-MIB mdmTable (1.3.6.1.4.1.20992.1.2.2.1.<column>.<mdmIndex>).

| mdmStatus | meaning here |
|---|---|
| 1 established, 3 ready (standby) | up: a raised wan_down clears |
| 4 error, 5 disconnected | down: `wan_down` on resource `modem.<mdmIndex>` (level = the status name) |
| 2 establishing, 6 disconnecting | in transition: previous state kept |
| 7 suspended, 8 empty, 9 notconfigured, 10 userstopped | not in service (administrative): not a problem |

WIPIPE-MIB has no object for wired (Ethernet) WAN; those are not watched here.
"""
from __future__ import annotations

from typing import Any, ClassVar, Mapping

from ...errors import ConnectorError
from ..snmp.poller import Evaluation, SnmpPoller
from ..snmp.targets import SnmpSession, Target

MODEM_ENTRY = "1.3.6.1.4.1.20992.1.2.2.1"
COLUMNS = {2: "descr", 3: "port", 5: "status"}
STATUS = {1: "established", 2: "establishing", 3: "ready", 4: "error", 5: "disconnected", 6: "disconnecting",
          7: "suspended", 8: "empty", 9: "notconfigured", 10: "userstopped"}
DOWN = {4, 5}
TRANSITION = {2, 6}


class CradlepointSnmpPoller(SnmpPoller):
    type = "cradlepoint"
    THRESHOLDS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, config, sink, **kw: Any):
        mode = config.settings.get("mode", "api")
        if mode != "snmp":
            raise ConnectorError(config.name, f"mode {mode!r} is not the SNMP poller's (set mode: snmp to poll "
                                              "routers over SNMP)", field="mode")
        super().__init__(config, sink, **kw)

    async def read(self, session: SnmpSession, target: Target) -> Evaluation:
        return evaluate(await session.table(MODEM_ENTRY, COLUMNS))


def evaluate(rows: dict[str, dict[str, Any]]) -> Evaluation:
    """Judge each modem row ({descr, port, status}). Pure."""
    ev = Evaluation()
    if not rows:  # no modem table (or an agent glitch): nothing known
        ev.unknown.add("wan_down")
    for index, row in sorted(rows.items()):
        resource, status = f"modem.{index}", row.get("status")
        label = " ".join(str(row[k]) for k in ("descr", "port") if row.get(k)) or f"modem {index}"
        if status is None or status in TRANSITION:
            ev.unknown.add(f"wan_down|{resource}")
        elif status in DOWN:
            ev.add("wan_down", resource, f"WAN {label} is {STATUS[status]} (mdmStatus {status})", level=STATUS[status],
                   modem_index=index, modem=row.get("descr"), port=row.get("port"), status=STATUS[status])
    return ev
