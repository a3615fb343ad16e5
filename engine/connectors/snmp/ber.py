"""Fast BER decoder for SNMP v1 Trap-PDUs and v2c notifications (stdlib only).

pysnmp/pyasn1 decode about 1,000 traps/s per core; this module decodes the same
packets about 30 times faster. It accepts exactly what pysnmp's receive path accepts
and yields the same values; tests/connectors/snmp/test_ber_differential.py proves it
against pysnmp over real, edge-case and fuzzed packets. Where pyasn1 is lenient, so
are we (BER is not DER):

* long-form and non-minimal lengths (up to 8 length octets), long-form tag numbers;
* indefinite lengths on constructed types, closed by 00 00;
* constructed (fragmented) OCTET STRING, IpAddress, Opaque and community, and an
  indefinite length on those types even with the primitive tag;
* INTEGER with leading 00/FF padding, and an empty INTEGER (= 0);
* OID arcs of any size up to 20 continuation octets; a leading 0x80 octet is refused.

Lenient where net-snmp is and pysnmp is not, in one place: an unsigned value
(Counter32, Gauge32, TimeTicks, Counter64, and the v1 time-stamp) encoded without its
leading 00 octet, i.e. negative in two's complement, is read modulo 2^32 (2^64 for
Counter64) as net-snmp's asn_parse_unsigned_int does, when it fits 8 octets; some agents
send a Gauge32 of 4294967295 as 42 04 FF FF FF FF. pysnmp drops such a trap.

Every message is bounded: a number too long to print (Python refuses int → str past
4,300 digits) is named by its size instead.

Stricter than pysnmp in one place only: bytes after the message are refused even when
the message has an indefinite length (pysnmp ignores them then; with a definite length
it drops the packet too). SNMPv3 raises UnsupportedVersion so the caller hands the
packet to pysnmp; GetRequest and friends raise UnsupportedPdu.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import OpscError

MAX_MESSAGE_SIZE = 65507  # largest UDP payload over IPv4
_MAX_DEPTH = 101  # pyasn1 refuses a 102nd level of nesting (MAX_NESTING_DEPTH = 100)
_MAX_LENGTH_OCTETS = 8
_MAX_TAG_OCTETS = 20
_MAX_ARC_CONTINUATION = 20
_OID_CACHE_SIZE = 8192


def show(v: int) -> str:
    """A number for an error message: the digits up to 64 bits, else its size (never an
    exception: a 2,000-octet INTEGER has more digits than int → str allows)."""
    if -(1 << 64) <= v < (1 << 64):
        return str(v)
    return f"a {(v.bit_length() + 8) // 8}-octet number"


class BerError(OpscError):
    """A packet that is not a well-formed SNMP v1/v2c message; names the reason and byte."""

    def __init__(self, reason: str, offset: int):
        self.reason = reason
        self.offset = offset
        super().__init__(f"malformed SNMP packet at byte {offset}: {reason}")


class UnsupportedVersion(BerError):
    """SNMPv3 (or another version this decoder does not handle): route the packet to pysnmp."""

    def __init__(self, version: int, offset: int):
        self.version = version
        super().__init__(f"SNMP version field {show(version)} is not v1 (0) or v2c (1); "
                         "SNMPv3 (3) must go to pysnmp", offset)


class UnsupportedPdu(BerError):
    """A well-formed header carrying a PDU a trap receiver does not take (Get, Set, Report...)."""

    def __init__(self, pdu_tag: int, offset: int):
        self.pdu_tag = pdu_tag
        super().__init__(f"PDU tag 0x{pdu_tag:02X} is not a trap, inform or response", offset)


@dataclass(frozen=True, slots=True)
class VarBind:
    oid: str
    type: str  # pysnmp class name: Integer32, OctetString, ObjectIdentifier, IpAddress, ...
    value: int | str | bytes | None  # int; bytes for OctetString/Opaque; str for OID/IpAddress


@dataclass(frozen=True, slots=True)
class TrapMessage:
    version: int  # 0 = SNMPv1, 1 = SNMPv2c
    community: bytes
    pdu_type: str  # 'trap_v1', 'trap_v2', 'inform', 'response'
    varbinds: tuple[VarBind, ...]
    request_id: int | None = None  # v2c
    error_status: int | None = None  # v2c
    error_index: int | None = None  # v2c
    enterprise: str | None = None  # v1
    agent_addr: str | None = None  # v1
    generic_trap: int | None = None  # v1
    specific_trap: int | None = None  # v1
    timestamp: int | None = None  # v1 time-stamp (TimeTicks)


_V2_PDUS = {0xA7: "trap_v2", 0xA6: "inform", 0xA2: "response"}
_V2_OTHER_PDUS = frozenset({0xA0, 0xA1, 0xA3, 0xA5, 0xA8})
_V1_OTHER_PDUS = frozenset({0xA0, 0xA1, 0xA2, 0xA3})

_U32 = (0, 4294967295)
_U64 = (0, 18446744073709551615)
_NEGATIVE_UNSIGNED = -(1 << 63)  # net-snmp reads an unsigned value of up to 8 octets
# identifier octet with the constructed bit cleared -> (type name, kind, range)
# kind: 0 integer, 1 octets, 2 oid, 3 null, 4 ip address, 5 v1 NetworkAddress (an ip
# address one CHOICE deeper, which only matters for pyasn1's nesting limit)
_V1_TYPES = {
    0x02: ("Integer32", 0, (-2147483648, 2147483647)),
    0x04: ("OctetString", 1, None),
    0x06: ("ObjectIdentifier", 2, None),
    0x05: ("Null", 3, None),
    0x40: ("IpAddress", 5, None),
    0x41: ("Counter32", 0, _U32),
    0x42: ("Gauge32", 0, _U32),
    0x43: ("TimeTicks", 0, _U32),
    0x44: ("Opaque", 1, None),
}
_V2_TYPES = dict(_V1_TYPES)
_V2_TYPES.update({
    0x40: ("IpAddress", 4, None),
    0x46: ("Counter64", 0, _U64),
    0x80: ("NoSuchObject", 3, None),
    0x81: ("NoSuchInstance", 3, None),
    0x82: ("EndOfMibView", 3, None),
})
# pyasn1 call depth of a varbind value (its choices count), and of the v1 agent-addr
_V1_VALUE_DEPTH = 8
_V2_VALUE_DEPTH = 9

_OID_CACHE: dict[bytes, str] = {}


def _tl(data: bytes, pos: int, lim: int) -> tuple[int, int, int]:
    """Read one identifier and length at pos; return (identifier, content start, length).

    The identifier is the first octet; a long-form tag number below 31 is folded into
    it (as pyasn1 does), a larger one becomes low bits 0x1F, which no SNMP type uses.
    Length -1 means indefinite. The content must fit before lim.
    """
    if pos >= lim:
        raise BerError("truncated: expected an identifier octet", pos)
    t = data[pos]
    p = pos + 1
    if t & 0x1F == 0x1F:
        tag_id = 0
        count = 0
        while True:
            if p >= lim:
                raise BerError("truncated inside a long-form tag", p)
            b = data[p]
            p += 1
            count += 1
            if count > _MAX_TAG_OCTETS:
                raise BerError("long-form tag longer than 20 octets", pos)
            tag_id = (tag_id << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        if tag_id < 0x1F:
            t = (t & 0xE0) | tag_id
    if p >= lim:
        raise BerError("truncated: expected a length octet", p)
    n = data[p]
    p += 1
    if n & 0x80:
        if n == 0x80:
            return t, p, -1
        size = n & 0x7F
        if size > _MAX_LENGTH_OCTETS:
            raise BerError(f"length field of {size} octets (at most 8)", p - 1)
        if p + size > lim:
            raise BerError("truncated inside a long-form length", p)
        n = int.from_bytes(data[p:p + size], "big")
        p += size
    if p + n > lim:
        raise BerError(f"length {n} runs past the end of the enclosing element "
                       f"({lim - p} octets left)", pos)
    return t, p, n


def _eoo(data: bytes, pos: int, lim: int, what: str) -> int:
    """Consume the 00 00 closing an indefinite-length element."""
    if pos + 2 > lim:
        raise BerError(f"truncated: missing end-of-contents after {what}", pos)
    if data[pos] or data[pos + 1]:
        raise BerError(f"extra element where {what} should end (expected 00 00)", pos)
    return pos + 2


def _end(data: bytes, pos: int, end: int, ln: int, lim: int, what: str) -> int:
    """Check that the fields of a SEQUENCE used up its content; return the position after it."""
    if ln == -1:
        return _eoo(data, pos, lim, what)
    if pos != end:
        raise BerError(f"{end - pos} unexpected octets at the end of {what}", pos)
    return end


def _integer(data: bytes, t: int, p: int, ln: int, at: int, what: str) -> int:
    if t & 0x20:
        raise BerError(f"{what}: INTEGER with the constructed bit", at)
    if ln == -1:
        raise BerError(f"{what}: INTEGER with indefinite length", at)
    if ln == 1:
        v = data[p]
        return v - 256 if v > 127 else v
    return int.from_bytes(data[p:p + ln], "big", signed=True)


def _octets(data: bytes, t: int, p: int, ln: int, lim: int, depth: int, at: int) -> tuple[bytes, int]:
    """OCTET STRING content (primitive, constructed or indefinite); return (bytes, end)."""
    if ln != -1 and not t & 0x20:
        end = p + ln
        return data[p:end], end
    parts: list[bytes] = []
    if ln == -1:
        while True:
            if depth >= _MAX_DEPTH:
                raise BerError("string fragments nested too deeply", p)
            if p + 2 <= lim and not data[p] and not data[p + 1]:
                return b"".join(parts), p + 2
            ft, fp, fl = _tl(data, p, lim)
            if ft & 0xDF != 0x04:
                raise BerError(f"string fragment with identifier 0x{ft:02X} (expected 0x04)", p)
            chunk, p = _octets(data, ft, fp, fl, lim, depth + 1, p)
            parts.append(chunk)
    end = p + ln
    while p < end:
        if depth >= _MAX_DEPTH:
            raise BerError("string fragments nested too deeply", p)
        ft, fp, fl = _tl(data, p, end)
        if ft & 0xDF != 0x04:
            raise BerError(f"string fragment with identifier 0x{ft:02X} (expected 0x04)", p)
        chunk, p = _octets(data, ft, fp, fl, end, depth + 1, p)
        parts.append(chunk)
    return b"".join(parts), end


def _oid(data: bytes, t: int, p: int, ln: int, at: int) -> str:
    if t & 0x20:
        raise BerError("OBJECT IDENTIFIER with the constructed bit", at)
    if ln == -1:
        raise BerError("OBJECT IDENTIFIER with indefinite length", at)
    raw = data[p:p + ln]
    text = _OID_CACHE.get(raw)
    if text is None:
        text = _oid_text(raw, p)
        if len(_OID_CACHE) >= _OID_CACHE_SIZE:
            _OID_CACHE.clear()
        _OID_CACHE[raw] = text
    return text


def _oid_text(raw: bytes, p: int) -> str:
    if not raw:
        raise BerError("empty OBJECT IDENTIFIER", p)
    if max(raw) < 0x80:  # every arc fits one octet: the common case
        first = raw[0]
        head = f"0.{first}" if first < 40 else f"1.{first - 40}" if first < 80 else f"2.{first - 80}"
        if len(raw) == 1:
            return head
        return head + "." + ".".join(map(str, raw[1:]))
    arcs = []
    sub = 0
    count = 0
    for i, b in enumerate(raw):
        if b & 0x80:
            if not count and b == 0x80:
                raise BerError("OID sub-identifier starts with 0x80 (non-minimal)", p + i)
            count += 1
            if count > _MAX_ARC_CONTINUATION:
                raise BerError("OID sub-identifier longer than 21 octets", p + i)
            sub = (sub << 7) | (b & 0x7F)
        else:
            arcs.append((sub << 7) | b)
            sub = 0
            count = 0
    if count:
        raise BerError("OID ends inside a sub-identifier", p + len(raw))
    first = arcs[0]
    head = f"0.{first}" if first < 40 else f"1.{first - 40}" if first < 80 else f"2.{first - 80}"
    if len(arcs) == 1:
        return head
    return head + "." + ".".join(map(str, arcs[1:]))


def _ip(data: bytes, t: int, p: int, ln: int, lim: int, depth: int, at: int) -> tuple[str, int]:
    raw, end = _octets(data, t, p, ln, lim, depth, at)
    if len(raw) != 4:
        raise BerError(f"IpAddress of {len(raw)} octets (must be 4)", at)
    return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}", end


def _unsigned(v: int, rng: tuple[int, int], what: str, at: int) -> int:
    """An out-of-range value: for an unsigned type, a negative one of up to 8 octets is
    read modulo the width (net-snmp); anything else is refused."""
    if rng[0] == 0 and _NEGATIVE_UNSIGNED <= v < 0:
        return v % (rng[1] + 1)
    raise BerError(f"{what} value {show(v)} out of range {rng[0]}..{rng[1]}", at)


def _not_empty_indefinite(data: bytes, p: int, lim: int, at: int) -> None:
    """pyasn1 looks for end-of-contents before decoding a CHOICE alternative, so an
    indefinite-length value that starts with 00 00 leaves the CHOICE empty: refused."""
    if p + 2 <= lim and not data[p] and not data[p + 1]:
        raise BerError("empty indefinite-length value", at)


def _value(data: bytes, pos: int, lim: int, types: dict, depth: int) -> tuple[str, int | str | bytes | None, int]:
    t, p, ln = _tl(data, pos, lim)
    spec = types.get(t & 0xDF)
    if spec is None:
        raise BerError(f"unknown value type, identifier 0x{t:02X}", pos)
    name, kind, rng = spec
    if ln == -1:
        _not_empty_indefinite(data, p, lim, pos)
    if kind == 0:
        v = _integer(data, t, p, ln, pos, name)
        if v < rng[0] or v > rng[1]:
            v = _unsigned(v, rng, name, pos)
        return name, v, p + ln
    if kind == 2:
        return name, _oid(data, t, p, ln, pos), p + ln
    if kind == 1:
        octets, end = _octets(data, t, p, ln, lim, depth, pos)
        return name, octets, end
    if kind == 3:
        if t & 0x20 or ln == -1:
            raise BerError(f"{name} must be primitive with a definite length", pos)
        if ln:
            raise BerError(f"{name} with {ln} content octets (must be empty)", pos)
        return name, None, p
    ip, end = _ip(data, t, p, ln, lim, depth if kind == 4 else depth + 1, pos)
    return name, ip, end


def _varbinds(data: bytes, pos: int, lim: int, v2: bool) -> tuple[tuple[VarBind, ...], int]:
    t, p, ln = _tl(data, pos, lim)
    if t & 0xDF != 0x10:
        raise BerError(f"variable-bindings: identifier 0x{t:02X}, expected SEQUENCE 0x30", pos)
    if not t & 0x20:
        raise BerError("variable-bindings: SEQUENCE with the primitive bit", pos)
    types = _V2_TYPES if v2 else _V1_TYPES
    depth = _V2_VALUE_DEPTH if v2 else _V1_VALUE_DEPTH
    out = []
    end = p + ln if ln != -1 else lim
    while True:
        if ln == -1:
            if p + 2 <= lim and not data[p] and not data[p + 1]:
                end = p + 2
                break
        elif p >= end:
            break
        # one VarBind: SEQUENCE { name OBJECT IDENTIFIER, value }
        vpos = p
        vt, p, vl = _tl(data, p, end)
        if vt & 0xDF != 0x10:
            raise BerError(f"varbind: identifier 0x{vt:02X}, expected SEQUENCE 0x30", vpos)
        if not vt & 0x20:
            raise BerError("varbind: SEQUENCE with the primitive bit", vpos)
        vend = p + vl if vl != -1 else end
        npos = p
        nt, p, nl = _tl(data, p, vend)
        if nt & 0xDF != 0x06:
            raise BerError(f"varbind name: identifier 0x{nt:02X}, expected OID 0x06", npos)
        oid = _oid(data, nt, p, nl, npos)
        name, value, p = _value(data, p + nl, vend, types, depth)
        p = _end(data, p, vend, vl, end, "varbind")
        out.append(VarBind(oid, name, value))
    return tuple(out), end


def _field_int(data: bytes, pos: int, lim: int, what: str) -> tuple[int, int]:
    t, p, ln = _tl(data, pos, lim)
    if t & 0xDF != 0x02:
        raise BerError(f"{what}: identifier 0x{t:02X}, expected INTEGER 0x02", pos)
    return _integer(data, t, p, ln, pos, what), p + ln


def _check_range(v: int, lo: int, hi: int, what: str, at: int) -> None:
    if v < lo or v > hi:
        raise BerError(f"{what} {show(v)} out of range {lo}..{hi}", at)


def _finish(data: bytes, pos: int, mend: int, mlen: int) -> None:
    """Check the end of the message: nothing after the PDU, nothing after the message."""
    n = len(data)
    if mlen == -1:
        pos = _eoo(data, pos, n, "message")
        if pos != n:
            raise BerError(f"{n - pos} octets after the end of the message", pos)
    elif pos != mend:
        raise BerError(f"{mend - pos} unexpected octets at the end of the message", pos)


def decode_message(data: bytes | bytearray | memoryview) -> TrapMessage:
    """Decode one SNMP v1 Trap-PDU or v2c Trap/Inform/Response datagram.

    Raises BerError for anything pysnmp would refuse (and for trailing bytes);
    UnsupportedVersion for SNMPv3 and other versions; UnsupportedPdu for other PDUs.
    """
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n > MAX_MESSAGE_SIZE:
        raise BerError(f"message of {n} octets exceeds {MAX_MESSAGE_SIZE}", 0)
    t, pos, ln = _tl(data, 0, n)
    if t & 0xDF != 0x10:
        raise BerError(f"message: identifier 0x{t:02X}, expected SEQUENCE 0x30", 0)
    if not t & 0x20:
        raise BerError("message: SEQUENCE with the primitive bit", 0)
    if ln != -1 and pos + ln != n:
        raise BerError(f"{n - pos - ln} octets after the end of the message", pos + ln)
    mend = pos + ln if ln != -1 else n
    mlen = ln

    at = pos
    version, pos = _field_int(data, pos, mend, "version")
    if version != 0 and version != 1:
        raise UnsupportedVersion(version, at)

    at = pos
    t, p, ln = _tl(data, pos, mend)
    if t & 0xDF != 0x04:
        raise BerError(f"community: identifier 0x{t:02X}, expected OCTET STRING 0x04", at)
    community, pos = _octets(data, t, p, ln, mend, 2, at)

    at = pos
    t, p, ln = _tl(data, pos, mend)
    kind = t | 0x20  # PDU tags are listed with the constructed bit
    if version == 1:
        pdu_type = _V2_PDUS.get(kind)
        if pdu_type is None:
            if kind in _V2_OTHER_PDUS:
                raise UnsupportedPdu(t, at)
            raise BerError(f"PDU: identifier 0x{t:02X} is not an SNMPv2c PDU", at)
    else:
        if kind != 0xA4:
            if kind in _V1_OTHER_PDUS:
                raise UnsupportedPdu(t, at)
            raise BerError(f"PDU: identifier 0x{t:02X} is not an SNMPv1 PDU", at)
        pdu_type = "trap_v1"
    if not t & 0x20:
        raise BerError("PDU with the primitive bit", at)
    plen = ln
    pend = p + ln if ln != -1 else mend
    pos = p

    if version == 1:
        at = pos
        request_id, pos = _field_int(data, pos, pend, "request-id")
        _check_range(request_id, -2147483648, 2147483647, "request-id", at)
        error_status, pos = _field_int(data, pos, pend, "error-status")
        at = pos
        error_index, pos = _field_int(data, pos, pend, "error-index")
        _check_range(error_index, 0, 2147483647, "error-index", at)
        varbinds, pos = _varbinds(data, pos, pend, True)
        _finish(data, _end(data, pos, pend, plen, mend, "PDU"), mend, mlen)
        return TrapMessage(1, community, pdu_type, varbinds,
                           request_id=request_id, error_status=error_status, error_index=error_index)

    at = pos
    t, p, ln = _tl(data, pos, pend)
    if t & 0xDF != 0x06:
        raise BerError(f"enterprise: identifier 0x{t:02X}, expected OID 0x06", at)
    enterprise = _oid(data, t, p, ln, at)
    pos = p + ln
    at = pos
    t, p, ln = _tl(data, pos, pend)
    if t & 0xDF != 0x40:
        raise BerError(f"agent-addr: identifier 0x{t:02X}, expected IpAddress 0x40", at)
    if ln == -1:
        _not_empty_indefinite(data, p, pend, at)
    agent_addr, pos = _ip(data, t, p, ln, pend, 5, at)
    generic, pos = _field_int(data, pos, pend, "generic-trap")
    specific, pos = _field_int(data, pos, pend, "specific-trap")
    at = pos
    t, p, ln = _tl(data, pos, pend)
    if t & 0xDF != 0x43:
        raise BerError(f"time-stamp: identifier 0x{t:02X}, expected TimeTicks 0x43", at)
    timestamp = _integer(data, t, p, ln, at, "time-stamp")
    if timestamp < 0 or timestamp > 4294967295:
        timestamp = _unsigned(timestamp, _U32, "time-stamp", at)
    varbinds, pos = _varbinds(data, p + ln, pend, False)
    _finish(data, _end(data, pos, pend, plen, mend, "PDU"), mend, mlen)
    return TrapMessage(0, community, pdu_type, varbinds, enterprise=enterprise, agent_addr=agent_addr,
                       generic_trap=generic, specific_trap=specific, timestamp=timestamp)
