"""The reference decoder: pysnmp's own receive path, normalised into our TrapMessage,
and the helpers that compare it with ber.py. One deliberate difference is built in:
unsigned values without their leading 00 are read as net-snmp reads them."""
from __future__ import annotations

from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import eoo
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pysnmp.proto import api
from pysnmp.proto.api import v1, v2c, verdec
from pysnmp.proto.error import ProtocolError
from pysnmp.proto.proxy.rfc2576 import V1_TO_V2_VALUE_MAP
from opsconductor.engine.connectors.snmp import ber
from opsconductor.engine.connectors.snmp.ber import BerError, TrapMessage, VarBind, decode_message


# --------------------------------------------------------------------------- reference


class _NetSnmpUnsigned(asn1_decoder.IntegerPayloadDecoder):
    """pyasn1's INTEGER decoder, reading an unsigned type's negative value (its leading 00
    left out) of up to 8 octets modulo the width, as net-snmp does: the one place ber.py
    follows net-snmp rather than pysnmp, which drops such a trap."""

    _WIDTH = {"Counter32": 32, "Gauge32": 32, "Unsigned32": 32, "TimeTicks": 32, "Counter64": 64,
              "Counter": 32, "Gauge": 32}  # the last two: SNMPv1 (RFC 1155)

    def _createComponent(self, asn1Spec, tagSet, value, **options):
        width = self._WIDTH.get(type(asn1Spec).__name__) if asn1Spec is not None else None
        if width and isinstance(value, int) and -(1 << 63) <= value < 0:
            value %= 1 << width
        return super()._createComponent(asn1Spec, tagSet, value, **options)


_TYPE_MAP = dict(asn1_decoder.TYPE_MAP)
_TYPE_MAP[univ.Integer.typeId] = _NetSnmpUnsigned()


class RefReject(Exception):
    """pysnmp (or the documented policy on top of it) refuses the packet."""

    def __init__(self, kind: str, detail: str = ""):
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


_TYPE_NAMES = {"Integer": "Integer32"}
_V2_PDU_TYPES = {
    v2c.TrapPDU.tagSet: "trap_v2",
    v2c.InformRequestPDU.tagSet: "inform",
    v2c.ResponsePDU.tagSet: "response",
}


def ref_value(value) -> tuple[str, object]:
    if not value.isValue:
        raise RefReject("parse", "component without a value")
    name = _TYPE_NAMES.get(type(value).__name__, type(value).__name__)
    if name in ("Null", "NoSuchObject", "NoSuchInstance", "EndOfMibView"):
        return name, None
    if name in ("OctetString", "Opaque"):
        return name, bytes(value)
    if name == "IpAddress":
        return name, ".".join(str(x) for x in value.asNumbers())
    if name == "ObjectIdentifier":
        return name, ".".join(str(x) for x in value)
    return name, int(value)


def _ref_oid(value) -> str:
    if not value.isValue:
        raise RefReject("parse", "OID without a value")
    return ".".join(str(x) for x in value)


def reference_decode(data: bytes) -> TrapMessage:
    if len(data) > ber.MAX_MESSAGE_SIZE:
        raise RefReject("oversized")
    try:
        version = int(verdec.decode_message_version(data))
    except (ProtocolError, PyAsn1Error) as exc:
        raise RefReject("parse", str(exc)) from None
    except Exception as exc:  # e.g. TypeError on pyasn1's explicit-tag path: pysnmp loses the packet
        raise RefReject("crash", f"{type(exc).__name__}: {exc}") from None
    if version not in (0, 1):
        raise RefReject("version", str(version))
    try:
        msg, rest = asn1_decoder.decode(data, asn1Spec=api.PROTOCOL_MODULES[version].Message(), typeMap=_TYPE_MAP)
        if eoo.endOfOctets.isSameTypeWith(msg):
            raise RefReject("parse", "EOO")
        if rest:
            raise RefReject("trailing", rest.hex())
        community = msg["community"]
        if not community.isValue:
            raise RefReject("parse", "community")
        pdu = msg["data"].getComponent()
        varbinds = []
        if version == 0:
            if pdu.tagSet != v1.TrapPDU.tagSet:
                raise RefReject("pdu", str(pdu.tagSet))
            for vb in pdu["variable-bindings"]:
                leaf = vb["value"].getComponent(innerFlag=True)
                if not leaf.isValue:
                    raise RefReject("parse", "value")
                varbinds.append(VarBind(_ref_oid(vb["name"]), *ref_value(
                    V1_TO_V2_VALUE_MAP[leaf.tagSet].clone(leaf))))
            agent = pdu["agent-addr"].getComponent()
            return TrapMessage(
                0, bytes(community), "trap_v1", tuple(varbinds),
                enterprise=_ref_oid(pdu["enterprise"]),
                agent_addr=ref_value(agent)[1],
                generic_trap=int(pdu["generic-trap"]),
                specific_trap=int(pdu["specific-trap"]),
                timestamp=int(pdu["time-stamp"]),
            )
        pdu_type = _V2_PDU_TYPES.get(pdu.tagSet)
        if pdu_type is None:
            raise RefReject("pdu", str(pdu.tagSet))
        for vb in pdu["variable-bindings"]:
            leaf = vb[1].getComponent(innerFlag=True)
            varbinds.append(VarBind(_ref_oid(vb["name"]), *ref_value(leaf)))
        return TrapMessage(
            1, bytes(community), pdu_type, tuple(varbinds),
            request_id=int(pdu["request-id"]),
            error_status=int(pdu["error-status"]),
            error_index=int(pdu["error-index"]),
        )
    except (PyAsn1Error, ProtocolError) as exc:
        raise RefReject("parse", str(exc)) from None
    except (IndexError, TypeError, KeyError) as exc:
        # pyasn1 crashes on some malformed indefinite-length input (IndexError on an
        # excess component); pysnmp's dispatcher does not catch it, so the packet is lost
        raise RefReject("crash", f"{type(exc).__name__}: {exc}") from None


def outcome(fn, data: bytes):
    try:
        return ("ok", fn(data))
    except (BerError, RefReject) as exc:
        return ("err", exc)


def compare(data: bytes) -> str | None:
    """None when ber.py and pysnmp agree on data, else a description of the difference."""
    ours = outcome(decode_message, data)
    ref = outcome(reference_decode, data)
    if ours[0] == "ok" and ref[0] == "ok":
        return None if ours[1] == ref[1] else f"values differ:\n ours {ours[1]}\n ref  {ref[1]}"
    if ours[0] == "err" and ref[0] == "err":
        if isinstance(ours[1], ber.UnsupportedVersion) and ref[1].kind != "version":
            return f"ours says unsupported version, pysnmp: {ref[1]}"
        return None
    return f"ours {ours[0]} ({ours[1]}), pysnmp {ref[0]} ({ref[1]})"


def assert_agree(packets, must_decode: bool = False) -> int:
    failures = []
    decoded = 0
    for label, data in packets:
        problem = compare(data)
        if problem is None and must_decode:
            try:
                decode_message(data)
            except BerError as exc:
                problem = f"real packet refused: {exc}"
        if problem is None:
            decoded += 1
        else:
            failures.append(f"{label}: {data.hex()}\n  {problem}")
    assert not failures, f"{len(failures)} of {len(packets)} disagree:\n" + "\n".join(failures[:15])
    return decoded
