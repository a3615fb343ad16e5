"""Names of standard MIB objects that templates and varbind conditions may use.

A small table of the objects traps actually carry (SNMPv2-MIB, IF-MIB, UPS-MIB and
the RFC 3584 proxy objects), so `vb.ifIndex` works without loading MIB modules at
run time. Names resolve to column/scalar OIDs without the instance suffix.
"""
from __future__ import annotations

_TABLE = {
    "SNMPv2-MIB": {
        "sysDescr": "1.3.6.1.2.1.1.1", "sysObjectID": "1.3.6.1.2.1.1.2", "sysUpTime": "1.3.6.1.2.1.1.3",
        "sysContact": "1.3.6.1.2.1.1.4", "sysName": "1.3.6.1.2.1.1.5", "sysLocation": "1.3.6.1.2.1.1.6",
        "snmpTrapOID": "1.3.6.1.6.3.1.1.4.1", "snmpTrapEnterprise": "1.3.6.1.6.3.1.1.4.3",
    },
    "SNMP-COMMUNITY-MIB": {"snmpTrapAddress": "1.3.6.1.6.3.18.1.3", "snmpTrapCommunity": "1.3.6.1.6.3.18.1.4"},
    "IF-MIB": {
        "ifIndex": "1.3.6.1.2.1.2.2.1.1", "ifDescr": "1.3.6.1.2.1.2.2.1.2", "ifType": "1.3.6.1.2.1.2.2.1.3",
        "ifMtu": "1.3.6.1.2.1.2.2.1.4", "ifSpeed": "1.3.6.1.2.1.2.2.1.5", "ifPhysAddress": "1.3.6.1.2.1.2.2.1.6",
        "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7", "ifOperStatus": "1.3.6.1.2.1.2.2.1.8",
        "ifLastChange": "1.3.6.1.2.1.2.2.1.9", "ifName": "1.3.6.1.2.1.31.1.1.1.1", "ifAlias": "1.3.6.1.2.1.31.1.1.1.18",
    },
    "UPS-MIB": {
        "upsBatteryStatus": "1.3.6.1.2.1.33.1.2.1", "upsSecondsOnBattery": "1.3.6.1.2.1.33.1.2.2",
        "upsEstimatedMinutesRemaining": "1.3.6.1.2.1.33.1.2.3", "upsEstimatedChargeRemaining": "1.3.6.1.2.1.33.1.2.4",
        "upsOutputSource": "1.3.6.1.2.1.33.1.4.1", "upsAlarmsPresent": "1.3.6.1.2.1.33.1.6.1",
        "upsAlarmDescr": "1.3.6.1.2.1.33.1.6.2.1.2",
    },
}

BY_NAME: dict[str, str] = {}
for _mib, _objects in _TABLE.items():
    for _name, _oid in _objects.items():
        BY_NAME[_name] = _oid
        BY_NAME[f"{_mib}::{_name}"] = _oid

BY_OID: dict[str, str] = {oid: f"{mib}::{name}" for mib, objs in _TABLE.items() for name, oid in objs.items()}

# Notification names, for titles and the dashboard.
TRAP_NAMES = {
    "1.3.6.1.6.3.1.1.5.1": "coldStart", "1.3.6.1.6.3.1.1.5.2": "warmStart", "1.3.6.1.6.3.1.1.5.3": "linkDown",
    "1.3.6.1.6.3.1.1.5.4": "linkUp", "1.3.6.1.6.3.1.1.5.5": "authenticationFailure",
    "1.3.6.1.6.3.1.1.5.6": "egpNeighborLoss",
}


def resolve_name(key: str) -> str:
    """A MIB name (ifIndex, IF-MIB::ifIndex) to its OID; anything else is returned unchanged."""
    return BY_NAME.get(key, key)
