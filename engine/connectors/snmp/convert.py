"""From a decoded trap to one notification: RFC 3584 §3.1 for SNMPv1, snmpTrapOID.0 for v2c.

A v1 Trap-PDU becomes the varbind list an SNMPv2 agent would have sent (and that
net-snmp's snmptrapd logs): sysUpTime.0, snmpTrapOID.0, the original varbinds, then
snmpTrapAddress.0, snmpTrapCommunity.0 and snmpTrapEnterprise.0. (pysnmp's own
rfc2576.v1_to_v2 puts the last three right after snmpTrapOID.0; the set is the same.)
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import OpscError
from .ber import TrapMessage, VarBind, show

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAPS = "1.3.6.1.6.3.1.1.5"
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"
SNMP_TRAP_COMMUNITY = "1.3.6.1.6.3.18.1.4.0"
SNMP_TRAP_ENTERPRISE = "1.3.6.1.6.3.1.1.4.3.0"


class ConvertError(OpscError):
    """A well-formed packet that does not describe a notification (names the field)."""


@dataclass(frozen=True, slots=True)
class Notification:
    trap_oid: str
    uptime: int | None  # TimeTicks (1/100 s) since the agent started, when sent
    varbinds: tuple[VarBind, ...]  # v2 form, starting with sysUpTime.0 and snmpTrapOID.0
    agent_addr: str | None  # v1 agent-addr or v2 snmpTrapAddress.0; else use the UDP source


def notification_of(msg: TrapMessage) -> Notification:
    if msg.pdu_type == "trap_v1":
        return _from_v1(msg)
    if msg.pdu_type not in ("trap_v2", "inform"):
        raise ConvertError(f"a {msg.pdu_type} PDU is not a notification")
    vbs = msg.varbinds
    if len(vbs) < 2 or vbs[1].oid != SNMP_TRAP_OID:
        raise ConvertError("no snmpTrapOID.0 (1.3.6.1.6.3.1.1.4.1.0) as the second varbind; "
                           f"got {[vb.oid for vb in vbs[:2]]}")
    if vbs[1].type != "ObjectIdentifier":
        raise ConvertError(f"snmpTrapOID.0 is a {vbs[1].type}, not an OID")
    first = vbs[0]
    uptime = first.value if first.oid == SYS_UPTIME and first.type == "TimeTicks" else None
    agent = None
    for vb in vbs[2:]:
        if vb.oid == SNMP_TRAP_ADDRESS and vb.type == "IpAddress":
            agent = vb.value
            break
    return Notification(vbs[1].value, uptime, vbs, agent)  # type: ignore[arg-type]


def _from_v1(msg: TrapMessage) -> Notification:
    generic, specific = msg.generic_trap, msg.specific_trap
    if generic == 6:
        if specific is None or not 0 <= specific <= 4294967295:
            raise ConvertError(f"specific-trap {_shown(specific)} cannot be an OID sub-identifier")
        trap_oid = f"{msg.enterprise}.0.{specific}"
    elif generic is not None and 0 <= generic <= 5:
        trap_oid = f"{SNMP_TRAPS}.{generic + 1}"
    else:
        raise ConvertError(f"generic-trap {_shown(generic)} is not 0..6 (RFC 1157)")
    varbinds = (
        VarBind(SYS_UPTIME, "TimeTicks", msg.timestamp),
        VarBind(SNMP_TRAP_OID, "ObjectIdentifier", trap_oid),
        *msg.varbinds,
        VarBind(SNMP_TRAP_ADDRESS, "IpAddress", msg.agent_addr),
        VarBind(SNMP_TRAP_COMMUNITY, "OctetString", msg.community),
        VarBind(SNMP_TRAP_ENTERPRISE, "ObjectIdentifier", msg.enterprise),
    )
    return Notification(trap_oid, msg.timestamp, varbinds, msg.agent_addr)


def _shown(v: int | None) -> str:
    return "missing" if v is None else show(v)
