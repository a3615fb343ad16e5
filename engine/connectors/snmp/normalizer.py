"""Trap RawEvents → alerts, through the OID maps.

A trap RawEvent's payload: {"version": "v1"|"v2c"|"v3", "trap_oid": str, "uptime": int|None,
"agent_addr": str|None, "varbinds": [{"oid", "type", "value"}, …]}; source_address is the
sender. v1 traps arrive already converted (RFC 3584), so one map serves both versions.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ...config.bundle import OidMapping
from ...config.templates import render
from ...identity import Identity
from ...model import Alert, DropEvent, RawEvent, Severity
from ...pipeline.context import ConfigView
from ...pipeline.mibnames import TRAP_NAMES
from ...pipeline.varbinds import Varbinds

UNKNOWN_TRAP = "unknown_trap"


def trap_device(event: RawEvent, varbinds: Varbinds, view: ConfigView) -> str | None:
    """The device a trap is about: a configured varbind (relays), else the v1 agent address, else the sender."""
    connector = view.connectors.get(event.connector)
    from_varbind = connector.settings.get("device_from_varbind") if connector else None
    if from_varbind:
        found, value = varbinds.find(from_varbind)
        if found and value:
            return str(value)
    agent = event.payload.get("agent_addr")
    if agent and agent != "0.0.0.0":
        return str(agent)
    return event.source_address


def normalize_trap(event: RawEvent, view: ConfigView) -> tuple[Alert, ...]:
    payload = event.payload
    trap_oid = str(payload.get("trap_oid", ""))
    pairs = [(str(vb["oid"]), vb.get("value")) for vb in payload.get("varbinds", ())]
    varbinds = Varbinds(pairs)
    device = view.identify(trap_device(event, varbinds, view))  # engine/identity.py
    device_ip, device_name = device.ip, device.name
    mapping = view.oid_index.lookup(trap_oid, varbinds)
    connector = view.connectors.get(event.connector)
    if mapping is None:
        unmapped = connector.settings.get("unmapped", "alert") if connector else "alert"
        if unmapped == "drop":
            raise DropEvent(f"unmapped trap {trap_oid} (the connector says unmapped: drop)")
        if unmapped != "alert":
            return ()  # `raw`: kept as a raw event only
        return (_unknown(event, trap_oid, pairs, device),)
    context = _context(event, mapping, trap_oid, varbinds, device_ip, device_name)
    alert_type = render(mapping.alert_type, context).strip() or UNKNOWN_TRAP
    context["alert_type"] = alert_type
    severity = mapping.severity
    if mapping.severity_from:
        oid, values = mapping.severity_from
        found, raw = varbinds.find(oid)
        if found and str(raw) in values:
            severity = values[str(raw)]
    context["severity"] = severity.value
    resource_key = render(mapping.resource_key, context).strip() if mapping.resource_key else ""
    clears = tuple(c for c in (render(t, context).strip() for t in mapping.clears) if c)
    title = render(mapping.title, context).strip()[:255] or alert_type
    message = render(mapping.description, context).strip() if mapping.description else None
    tags = tuple(dict.fromkeys((*(connector.tags if connector else ()), *mapping.tags)))
    return (Alert(
        source_system="snmp_trap", source_alert_id=f"{trap_oid}:{resource_key}" if resource_key else trap_oid,
        severity=Severity.CLEAR if clears and mapping.severity is Severity.CLEAR else severity,
        category=mapping.category, alert_type=alert_type, title=title, message=message,
        occurred_at=event.received_at, received_at=event.received_at,
        fingerprint=device.fingerprint("snmp_trap", alert_type, resource_key),
        device_ip=device_ip, device_name=device_name, resource_key=resource_key,
        is_clear=bool(clears), clears=clears, tags=tags, connector=event.connector,
        root_cause=mapping.root_cause, root_cause_by=str(mapping.source) if mapping.root_cause else None,
        custom_fields=MappingProxyType({"trap_oid": trap_oid, "vendor": mapping.vendor, "mib_name": mapping.mib_name,
                                        "mib_object": mapping.mib_object, "oid_map": str(mapping.source)}),
        raw_data=event.payload),)


def _context(event: RawEvent, mapping: OidMapping, trap_oid: str, varbinds: Varbinds,
             device_ip: str | None, device_name: str | None) -> dict[str, Any]:
    values = {}
    for key, table in mapping.value_maps.items():
        found, raw = varbinds.find(key)
        if found:
            values[key] = table.get(str(raw), raw)
    return {
        "device_ip": device_ip, "device_name": device_name, "device": device_name or device_ip,
        "source_address": event.source_address, "trap_oid": trap_oid, "oid": trap_oid,
        "trap_name": mapping.mib_object or TRAP_NAMES.get(trap_oid, trap_oid), "vendor": mapping.vendor,
        "mib_name": mapping.mib_name, "mib_object": mapping.mib_object, "varbinds": varbinds.pairs(), "vb": varbinds,
        "values": values, "uptime": event.payload.get("uptime"), "community": None,
        "agent_addr": event.payload.get("agent_addr"), "connector": event.connector, "source_system": "snmp_trap",
        "alert_type": None, "severity": mapping.severity.value, "category": mapping.category,
    }


def _unknown(event: RawEvent, trap_oid: str, pairs, device: Identity) -> Alert:
    device_ip, device_name = device.ip, device.name
    return Alert(
        source_system="snmp_trap", source_alert_id=trap_oid, severity=Severity.INFO, category="unknown",
        alert_type=UNKNOWN_TRAP, title=f"Unknown trap {TRAP_NAMES.get(trap_oid, trap_oid)} - {device_name or device_ip}"[:255],
        message="; ".join(f"{oid} = {value}" for oid, value in pairs)[:2000] or None,
        occurred_at=event.received_at, received_at=event.received_at,
        fingerprint=device.fingerprint("snmp_trap", UNKNOWN_TRAP, trap_oid),
        device_ip=device_ip, device_name=device_name, resource_key=trap_oid, connector=event.connector,
        custom_fields=MappingProxyType({"trap_oid": trap_oid}), raw_data=event.payload)
