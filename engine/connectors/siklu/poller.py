"""Siklu EtherHaul/MultiHaul radios over SNMP (connector type `siklu`): RADIO-BRIDGE-MIB rbRfTable
(1.3.6.1.4.1.31926.2.1.1.<column>.<rfIndex>), one set of conditions per rfIndex.

| alert_type | raised when | resource_key |
|---|---|---|
| siklu_rf_link_down | rfOperationalState = 2 (down) | rf.<rfIndex> |
| rssi_low | rfAverageRssi < rssi_min (dBm) | rf.<rfIndex> |
| cinr_low | rfAverageCinr < cinr_min (dB) | rf.<rfIndex> |
| modulation_drop | rfModulationType ranks below modulation_min | rf.<rfIndex> |

rfModulationType values are not in order of capacity (1 qpsk, 2 qam16, 3 qam64, and on newer
radios 4 qam32, 5 bpsk), so they are compared by rank: bpsk < qpsk < qam16 < qam32 < qam64.
While a link is down its RSSI, CINR and modulation mean nothing: those conditions keep their
previous state (nothing raised or cleared) until it is up again. A row that disappears from
the table clears its conditions.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..snmp.poller import Evaluation, SnmpPoller
from ..snmp.targets import SnmpSession, Target

RF_ENTRY = "1.3.6.1.4.1.31926.2.1.1"
COLUMNS = {7: "modulation", 17: "oper_state", 18: "cinr", 19: "rssi"}
DOWN = 2  # rfOperationalState (TruthValue): 1 up, 2 down
MODULATIONS = {5: "bpsk", 1: "qpsk", 2: "qam16", 4: "qam32", 3: "qam64"}  # lowest first
RANK = {value: rank for rank, value in enumerate(MODULATIONS)}


class SikluPoller(SnmpPoller):
    type = "siklu"
    THRESHOLDS = {"rssi_min": -70, "cinr_min": 10, "modulation_min": 2}

    async def read(self, session: SnmpSession, target: Target) -> Evaluation:
        return evaluate(await session.table(RF_ENTRY, COLUMNS), target.thresholds)


def _name(modulation: Any) -> str:
    return MODULATIONS.get(modulation, f"type {modulation}")


def evaluate(rows: dict[str, dict[str, Any]], thresholds: Mapping[str, Any]) -> Evaluation:
    """Judge each rfIndex row ({oper_state, rssi, cinr, modulation}). Pure."""
    ev = Evaluation()
    if not rows:  # no RF table: nothing known (an agent glitch must not clear a link-down)
        ev.unknown.update(("siklu_rf_link_down", "rssi_low", "cinr_low", "modulation_drop"))
    for index, row in sorted(rows.items()):
        resource = f"rf.{index}"
        state = row.get("oper_state")
        if state is None:
            ev.unknown.add(f"siklu_rf_link_down|{resource}")
        elif state == DOWN:
            ev.add("siklu_rf_link_down", resource, f"RF link {index} is down (rfOperationalState 2)",
                   rf_index=index, oper_state=state, rssi=row.get("rssi"), cinr=row.get("cinr"))
            ev.unknown.update(f"{t}|{resource}" for t in ("rssi_low", "cinr_low", "modulation_drop"))
            continue
        for alert_type, reading, key, unit in (("rssi_low", "RSSI", "rssi", "dBm"), ("cinr_low", "CINR", "cinr", "dB")):
            value, minimum = row.get(key), thresholds.get(f"{key}_min")
            if value is None or minimum is None:
                ev.unknown.add(f"{alert_type}|{resource}")
            elif value < minimum:
                ev.add(alert_type, resource, f"{reading} {value} {unit} on RF {index} is below {minimum:g} {unit}",
                       rf_index=index, value=value, threshold=minimum, unit=unit)
        modulation, minimum = row.get("modulation"), thresholds.get("modulation_min")
        if modulation is None or minimum is None or modulation not in RANK or minimum not in RANK:
            ev.unknown.add(f"modulation_drop|{resource}")
        elif RANK[modulation] < RANK[minimum]:
            ev.add("modulation_drop", resource,
                   f"modulation on RF {index} dropped to {_name(modulation)} (below {_name(minimum)})",
                   level=_name(modulation), rf_index=index, value=modulation, threshold=minimum,
                   modulation=_name(modulation))
    return ev
