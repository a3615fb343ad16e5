"""Names of standard MIB objects that templates and varbind conditions may use.

A table of the objects traps actually carry (SNMPv2-MIB, IF-MIB, UPS-MIB and the
RFC 3584 proxy objects), so `vb.ifIndex` works without loading MIB modules; other names
are looked up, once, in the MIB modules that ship with pysnmp (SNMPv2-MIB, RFC1213-MIB,
SNMP-COMMUNITY-MIB, …). Names resolve to column/scalar OIDs without the instance suffix.
"""
from __future__ import annotations

from functools import lru_cache

PYSNMP_MODULES = ("SNMPv2-MIB", "RFC1213-MIB", "SNMP-COMMUNITY-MIB", "SNMP-FRAMEWORK-MIB", "SNMP-TARGET-MIB",
                  "SNMP-NOTIFICATION-MIB")

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
    found = BY_NAME.get(key)
    if found is not None:
        return found
    if key[:1].isdigit():
        return key
    return _pysnmp_names().get(key, key)


@lru_cache(maxsize=1)
def _pysnmp_names() -> dict[str, str]:
    """Every OBJECT-TYPE and NOTIFICATION-TYPE of the MIB modules pysnmp ships (loaded on first use)."""
    from pysnmp.smi import builder

    mibs = builder.MibBuilder()
    out: dict[str, str] = {}
    for module in PYSNMP_MODULES:
        try:
            mibs.load_modules(module)
        except Exception:  # a module missing from this pysnmp build: the table above still works
            continue
        for symbol, obj in mibs.mibSymbols.get(module, {}).items():
            if type(obj).__name__ in ("MibScalar", "MibTableColumn", "NotificationType"):
                oid = ".".join(str(arc) for arc in obj.getName())
                out[f"{module}::{symbol}"] = oid
                out.setdefault(symbol, oid)
    return out
