"""A decoded notification as the JSON payload of a trap RawEvent, and the answer to a v2c inform.

Payload (what normalizer.py reads):
    {"version": "v1"|"v2c"|"v3", "trap_oid": str, "uptime": int|None, "agent_addr": str|None,
     "varbinds": [{"oid": str, "type": str, "value": JSON value}, …]}
sysUpTime.0 and snmpTrapOID.0 are not repeated in `varbinds`; snmpTrapCommunity.0 (RFC 3584,
or relayed by a proxy) is never included: a community is a secret.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .ber import TrapMessage, VarBind
from .convert import SNMP_TRAP_COMMUNITY, SNMP_TRAP_OID, SYS_UPTIME, Notification

_LEFT_OUT = frozenset({SYS_UPTIME, SNMP_TRAP_OID, SNMP_TRAP_COMMUNITY})
_TEXT_CONTROLS = str.maketrans("", "", "\t\n\r")


def json_value(vb: VarBind) -> Any:
    """ints stay ints; OIDs and IpAddress are dotted text; an OctetString is text when it is
    printable UTF-8 (tabs and line breaks allowed), else "0x" + hex; Opaque is always hex;
    Null, noSuchObject, noSuchInstance and endOfMibView are None."""
    value = vb.value
    if isinstance(value, bytes):
        if vb.type == "OctetString":
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                return "0x" + value.hex()
            if text.isprintable() or text.translate(_TEXT_CONTROLS).isprintable():
                return text
        return "0x" + value.hex()
    return value


def payload_of(version: str, note: Notification) -> dict[str, Any]:
    """A received notification's payload."""
    return trap_payload(note.trap_oid, [{"oid": vb.oid, "type": vb.type, "value": json_value(vb)}
                                        for vb in note.varbinds if vb.oid not in _LEFT_OUT],
                        version=version, uptime=note.uptime, agent_addr=note.agent_addr)


def trap_payload(trap_oid: str, varbinds: Iterable[Mapping[str, Any] | tuple[str, Any]] = (), *,
                 version: str = "v2c", uptime: int | None = None, agent_addr: str | None = None) -> dict[str, Any]:
    """The one shape of a trap RawEvent's payload (the module doc), for the receiver and for
    whatever makes traps without a wire (rule tests, benchmarks, tests). A varbind is
    {"oid", "type", "value"}, or (oid, value): Integer32 for an int, OctetString otherwise."""
    return {"version": version, "trap_oid": trap_oid, "uptime": uptime, "agent_addr": agent_addr,
            "varbinds": [vb if isinstance(vb, Mapping) else
                         {"oid": vb[0], "type": "Integer32" if isinstance(vb[1], int) else "OctetString",
                          "value": vb[1]} for vb in varbinds]}


# ---- BER encoding of the Response to a v2c InformRequest (RFC 3416 §4.2.7) ----------------

_TAGS = {
    "Integer32": 0x02, "OctetString": 0x04, "Null": 0x05, "ObjectIdentifier": 0x06, "IpAddress": 0x40,
    "Counter32": 0x41, "Gauge32": 0x42, "TimeTicks": 0x43, "Opaque": 0x44, "Counter64": 0x46,
    "NoSuchObject": 0x80, "NoSuchInstance": 0x81, "EndOfMibView": 0x82,
}


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def _int(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def _oid(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    if len(arcs) < 2:
        arcs.append(0)
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _value(vb: VarBind) -> bytes:
    tag = _TAGS[vb.type]
    value = vb.value
    if value is None:
        return bytes((tag, 0))
    if vb.type == "ObjectIdentifier":
        return _tlv(tag, _oid(value))  # type: ignore[arg-type]
    if vb.type == "IpAddress":
        return _tlv(tag, bytes(int(x) for x in value.split(".")))  # type: ignore[union-attr,arg-type]
    if isinstance(value, bytes):
        return _tlv(tag, value)
    return _tlv(tag, _int(value))  # type: ignore[arg-type]


def encode_response(msg: TrapMessage) -> bytes:
    """The Response PDU for a decoded v2c inform: same request-id, no error, the same varbinds."""
    varbinds = b"".join(_tlv(0x30, _tlv(0x06, _oid(vb.oid)) + _value(vb)) for vb in msg.varbinds)
    pdu = _tlv(0xA2, _tlv(0x02, _int(msg.request_id or 0)) + b"\x02\x01\x00\x02\x01\x00" + _tlv(0x30, varbinds))
    return _tlv(0x30, b"\x02\x01\x01" + _tlv(0x04, msg.community) + pdu)
