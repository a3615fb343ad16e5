"""Packets for the BER differential test: builders, real-shaped traps, hand-made edge
cases and a mutator. Data, kept apart from the tests that compare decoders."""
from __future__ import annotations

import random

from pyasn1.codec.ber import encoder as asn1_encoder
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v1, v2c


# --------------------------------------------------------------------------- builders


def v2c_message(varbinds, community="public", kind="trap", request_id=4711, error_status=0,
                error_index=0, version_module=v2c) -> bytes:
    pdu = {"trap": v2c.TrapPDU, "inform": v2c.InformRequestPDU, "response": v2c.ResponsePDU,
           "get": v2c.GetRequestPDU, "report": v2c.ReportPDU}[kind]()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, error_status)
    v2c.apiPDU.set_error_index(pdu, error_index)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


def v2c_trap(trap_oid, varbinds=(), uptime=4523311, **kw) -> bytes:
    head = [("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(uptime)),
            ("1.3.6.1.6.3.1.1.4.1.0", v2c.ObjectIdentifier(trap_oid))]
    return v2c_message(head + list(varbinds), **kw)


def v1_trap(enterprise, generic, specific, varbinds=(), agent="10.1.1.2", timestamp=123456,
            community="public") -> bytes:
    pdu = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(pdu)
    v1.apiTrapPDU.set_enterprise(pdu, enterprise)
    v1.apiTrapPDU.set_agent_address(pdu, agent)
    v1.apiTrapPDU.set_generic_trap(pdu, generic)
    v1.apiTrapPDU.set_specific_trap(pdu, specific)
    v1.apiTrapPDU.set_timestamp(pdu, timestamp)
    v1.apiTrapPDU.set_varbinds(pdu, list(varbinds))
    msg = v1.Message()
    v1.apiMessage.set_defaults(msg)
    v1.apiMessage.set_community(msg, community)
    v1.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


def length(n: int, form: str = "min") -> bytes:
    """A BER length: 'min' (shortest), 'long' (long form, minimal), 'pad' (long form with a 00)."""
    if form == "min" and n < 128:
        return bytes([n])
    body = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if form == "pad":
        body = b"\x00" + body
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes, form: str = "min") -> bytes:
    if form == "indef":
        return bytes([tag]) + b"\x80" + content + b"\x00\x00"
    return bytes([tag]) + length(len(content), form) + content


OID_X = b"\x2b\x06\x01\x04\x01\x82\x37"  # 1.3.6.1.4.1.311


def raw_v2c(value: bytes = tlv(0x02, b"\x01"), name: bytes = tlv(0x06, OID_X), *, version=b"\x01",
            community=tlv(0x04, b"public"), pdu_tag=0xA7, request_id=tlv(0x02, b"\x2a"),
            status=tlv(0x02, b"\x00"), index=tlv(0x02, b"\x00"), vb_form="min", list_form="min",
            pdu_form="min", msg_form="min", extra_vb=b"", extra_pdu=b"", extra_msg=b"",
            varbind: bytes | None = None) -> bytes:
    vb = varbind if varbind is not None else tlv(0x30, name + value + extra_vb, vb_form)
    pdu = tlv(pdu_tag, request_id + status + index + tlv(0x30, vb, list_form) + extra_pdu, pdu_form)
    return tlv(0x30, tlv(0x02, version) + community + pdu + extra_msg, msg_form)


def raw_v1(value: bytes = tlv(0x02, b"\x01"), *, enterprise=tlv(0x06, OID_X),
           agent=tlv(0x40, b"\x0a\x01\x01\x02"), generic=tlv(0x02, b"\x06"), specific=tlv(0x02, b"\x03"),
           stamp=tlv(0x43, b"\x01\xe2\x40"), version=b"\x00", community=tlv(0x04, b"public"),
           pdu_tag=0xA4, pdu_form="min") -> bytes:
    vbs = tlv(0x30, tlv(0x30, tlv(0x06, OID_X) + value))
    pdu = tlv(pdu_tag, enterprise + agent + generic + specific + stamp + vbs, pdu_form)
    return tlv(0x30, tlv(0x02, version) + community + pdu)


# --------------------------------------------------------------------------- corpus (a)

IF = "1.3.6.1.2.1.2.2.1"
XUPS = "1.3.6.1.4.1.534.1"
SIKLU = "1.3.6.1.4.1.31926"
CIENA = "1.3.6.1.4.1.6141.2.60.5"


def link_varbinds(index=10102, admin=1, oper=2, module=v2c):
    return [(f"{IF}.1.{index}", module.Integer(index)), (f"{IF}.7.{index}", module.Integer(admin)),
            (f"{IF}.8.{index}", module.Integer(oper))]


def eaton_varbinds(module=v2c, alarm=17):
    return [(f"{XUPS}.7.2.1.1.{alarm}", module.Integer(alarm)),
            (f"{XUPS}.7.2.1.2.{alarm}", module.ObjectIdentifier(f"{XUPS}.7.3")),
            (f"{XUPS}.11.3.0", module.OctetString("UPS on battery"))]


def siklu_varbinds(module=v2c, counter=58231):
    return [(f"{SIKLU}.11.1.1.0", module.Integer(counter)),
            (f"{SIKLU}.11.1.2.0", module.Integer(2)),
            (f"{SIKLU}.11.2.1.2.5017", module.Integer(10)),
            (f"{SIKLU}.11.2.1.3.5017", module.OctetString("rssi-out-of-range")),
            (f"{SIKLU}.11.1.10.0", module.IpAddress("10.50.1.21")),
            (f"{SIKLU}.11.2.1.4.5017", module.OctetString("eth0")),
            (f"{SIKLU}.11.2.1.5.5017", module.Integer(2)),
            (f"{SIKLU}.11.2.1.6.5017", module.TimeTicks(8812300)),
            (f"{SIKLU}.11.2.1.10.5017", module.Integer(1)),
            (f"{SIKLU}.11.1.4.0", module.Integer(1))]


def every_type_varbinds():
    return [
        ("1.3.6.1.4.1.99999.1.1", v2c.Integer(-2147483648)),
        ("1.3.6.1.4.1.99999.1.2", v2c.Integer(2147483647)),
        ("1.3.6.1.4.1.99999.1.3", v2c.Integer(-1)),
        ("1.3.6.1.4.1.99999.1.4", v2c.Integer(0)),
        ("1.3.6.1.4.1.99999.1.5", v2c.OctetString(b"")),
        ("1.3.6.1.4.1.99999.1.6", v2c.OctetString(bytes(range(256)))),
        ("1.3.6.1.4.1.99999.1.7", v2c.OctetString("caf\u00e9 \u2603".encode())),
        ("1.3.6.1.4.1.99999.1.8", v2c.ObjectIdentifier("0.0")),
        ("1.3.6.1.4.1.99999.1.9", v2c.ObjectIdentifier("2.999.4294967295.18446744073709551616")),
        ("1.3.6.1.4.1.99999.1.10", v2c.IpAddress("0.0.0.0")),
        ("1.3.6.1.4.1.99999.1.11", v2c.IpAddress("255.255.255.255")),
        ("1.3.6.1.4.1.99999.1.12", v2c.Counter32(4294967295)),
        ("1.3.6.1.4.1.99999.1.13", v2c.Gauge32(0)),
        ("1.3.6.1.4.1.99999.1.14", v2c.Unsigned32(4294967295)),
        ("1.3.6.1.4.1.99999.1.15", v2c.TimeTicks(4294967295)),
        ("1.3.6.1.4.1.99999.1.16", v2c.Opaque(b"\x9f\x78\x04\x42\xf6\x00\x00")),
        ("1.3.6.1.4.1.99999.1.17", v2c.Counter64(18446744073709551615)),
        ("1.3.6.1.4.1.99999.1.18", v2c.Counter64(0)),
        ("1.3.6.1.4.1.99999.1.19", v2c.Null()),
        ("1.3.6.1.4.1.99999.1.20", rfc1905.noSuchObject),
        ("1.3.6.1.4.1.99999.1.21", rfc1905.noSuchInstance),
        ("1.3.6.1.4.1.99999.1.22", rfc1905.endOfMibView),
        ("1.3.6.1.4.1.99999.1.23", v2c.Bits(b"\x80\x01")),
    ]


def real_shaped_corpus() -> list[tuple[str, bytes]]:
    out = [
        ("coldStart", v2c_trap("1.3.6.1.6.3.1.1.5.1")),
        ("warmStart", v2c_trap("1.3.6.1.6.3.1.1.5.2", uptime=0)),
        ("linkDown", v2c_trap("1.3.6.1.6.3.1.1.5.3", link_varbinds())),
        ("linkUp", v2c_trap("1.3.6.1.6.3.1.1.5.4", link_varbinds(oper=1))),
        ("linkDown lowerLayerDown", v2c_trap("1.3.6.1.6.3.1.1.5.3", link_varbinds(5, 1, 7))),
        ("linkDown + ifDescr", v2c_trap("1.3.6.1.6.3.1.1.5.3", link_varbinds(3) + [
            (f"{IF}.2.3", v2c.OctetString("GigabitEthernet0/3"))])),
        ("authenticationFailure", v2c_trap("1.3.6.1.6.3.1.1.5.5", community="s3cr\u00e9t")),
        ("Eaton xupstdOnBattery", v2c_trap(f"{XUPS}.11.4.1.0.3", eaton_varbinds())),
        ("Eaton xupstdUtilityPowerRestored", v2c_trap(f"{XUPS}.11.4.1.0.5", eaton_varbinds(alarm=18))),
        ("Siklu trapCurrentAlarm", v2c_trap(f"{SIKLU}.3.11", siklu_varbinds())),
        ("Siklu trapModulationChange", v2c_trap(f"{SIKLU}.3.1", [
            (f"{SIKLU}.2.1.1.{c}.1", v2c.Integer(v)) for c, v in ((7, 3), (8, 4), (9, 1), (10, 2))])),
        ("inform linkDown", v2c_trap("1.3.6.1.6.3.1.1.5.3", link_varbinds(), kind="inform", request_id=-5)),
        ("inform max request-id", v2c_trap("1.3.6.1.6.3.1.1.5.1", kind="inform", request_id=2147483647)),
        ("response", v2c_message([("1.3.6.1.2.1.1.5.0", v2c.OctetString("sw1"))], kind="response",
                                 error_status=2, error_index=1)),
        ("response error-status 18", v2c_message([], kind="response", error_status=18)),
        ("every value type", v2c_trap("1.3.6.1.4.1.99999.0.1", every_type_varbinds())),
        ("0 varbinds", v2c_message([])),
        ("200 varbinds", v2c_trap("1.3.6.1.4.1.99999.0.2", [
            (f"1.3.6.1.4.1.99999.2.{i}", v2c.Integer(i * 1000003 - 10 ** 8)) for i in range(198)])),
        ("long OID", v2c_trap("1.3.6.1.4.1.99999.0.3", [
            ("1.3.6.1.4.1.99999." + ".".join(str(2 ** (i % 32) - 1) for i in range(120)),
             v2c.OctetString(b"x" * 300))])),
        ("big string", v2c_trap("1.3.6.1.4.1.99999.0.4", [("1.3.6.1.4.1.99999.3", v2c.OctetString(b"y" * 60000))])),
        ("empty community", v2c_trap("1.3.6.1.6.3.1.1.5.1", community="")),
        ("OID first arcs 0/1/2", v2c_trap("0.39", [("1.39.1", v2c.ObjectIdentifier("2.47")),
                                                  ("2.0", v2c.ObjectIdentifier("2.100000"))])),
    ]
    for n in range(1, 6):
        out.append((f"Ciena {CIENA}.{n}", v2c_trap(f"{CIENA}.{n}", [
            (f"{CIENA}.1.1.{n}", v2c.OctetString(f"ALARM-{n} LOS on port 1/{n}")),
            (f"{CIENA}.1.2.{n}", v2c.Integer(n)),
            (f"{CIENA}.1.3.{n}", v2c.OctetString("2024-05-01T10:00:00Z"))])))
    v1_vbs = [("1.3.6.1.4.1.99999.4.1", v1.Integer(-2147483648)), ("1.3.6.1.4.1.99999.4.2", v1.OctetString(b"\x00\xff")),
              ("1.3.6.1.4.1.99999.4.3", v1.ObjectIdentifier("1.3.6")), ("1.3.6.1.4.1.99999.4.4", v1.IpAddress("1.2.3.4")),
              ("1.3.6.1.4.1.99999.4.5", v1.Counter(4294967295)), ("1.3.6.1.4.1.99999.4.6", v1.Gauge(7)),
              ("1.3.6.1.4.1.99999.4.7", v1.TimeTicks(0)), ("1.3.6.1.4.1.99999.4.8", v1.Opaque(b"op")),
              ("1.3.6.1.4.1.99999.4.9", v1.Null())]
    out += [
        ("v1 coldStart", v1_trap("1.3.6.1.4.1.9", 0, 0)),
        ("v1 linkDown", v1_trap("1.3.6.1.4.1.9", 2, 0, link_varbinds(module=v1))),
        ("v1 Eaton onBattery", v1_trap(f"{XUPS}.11.4.1", 6, 3, eaton_varbinds(module=v1))),
        ("v1 Siklu currentAlarm", v1_trap(f"{SIKLU}.3", 6, 11, siklu_varbinds(module=v1))),
        ("v1 every type", v1_trap("1.3.6.1.4.1.99999", 6, 2 ** 31 - 1, v1_vbs, timestamp=4294967295)),
        ("v1 odd header", v1_trap("1.3.6.1.4.1.99999", 99, -7, agent="0.0.0.0", timestamp=0)),
        ("v1 0 varbinds", v1_trap("1.3.6.1.4.1.99999", 6, 1)),
    ]
    return out


# --------------------------------------------------------------------------- corpus (b)


def edge_cases() -> list[tuple[str, bytes, str]]:
    """Hand-made packets and what pysnmp does with them ('ok' or 'err'); both decoders are checked."""
    i = lambda b: tlv(0x02, b)  # noqa: E731
    cases = [
        ("plain v2c", raw_v2c(), "ok"),
        ("plain v1", raw_v1(), "ok"),
        # lengths
        ("long-form length everywhere", raw_v2c(value=tlv(0x02, b"\x05", "long"), vb_form="long",
                                                list_form="long", pdu_form="long", msg_form="long"), "ok"),
        ("non-minimal length 82 00 nn", raw_v2c(value=tlv(0x04, b"abc", "pad"), msg_form="pad"), "ok"),
        ("length with 8 octets", raw_v2c(value=b"\x04\x88" + (3).to_bytes(8, "big") + b"abc"), "ok"),
        ("length with 9 octets", raw_v2c(value=b"\x04\x89" + (3).to_bytes(9, "big") + b"abc"), "err"),
        ("length 0xFF form", raw_v2c(value=b"\x04\xff" + b"\x00" * 127), "err"),
        ("indefinite message", raw_v2c(msg_form="indef"), "ok"),
        ("indefinite everywhere", raw_v2c(vb_form="indef", list_form="indef", pdu_form="indef",
                                          msg_form="indef", value=tlv(0x24, tlv(0x04, b"ab"), "indef")), "ok"),
        ("indefinite primitive string", raw_v2c(value=b"\x04\x80" + tlv(0x04, b"ab") + b"\x00\x00"), "ok"),
        ("indefinite empty string (CHOICE sees 00 00 as its end)", raw_v2c(value=b"\x04\x80\x00\x00"), "err"),
        ("indefinite string, empty fragment", raw_v2c(value=b"\x04\x80\x04\x00\x00\x00"), "ok"),
        ("indefinite empty community", raw_v2c(community=b"\x04\x80\x00\x00"), "ok"),
        ("indefinite integer", raw_v2c(value=b"\x02\x80\x01\x00\x00"), "err"),
        ("indefinite OID", raw_v2c(value=b"\x06\x80\x2b\x00\x00"), "err"),
        ("indefinite Null", raw_v2c(value=b"\x05\x80\x00\x00"), "err"),
        ("indefinite v1 PDU", raw_v1(pdu_form="indef"), "ok"),
        ("indefinite message + trailing byte (pysnmp ignores it; we refuse)",
         raw_v2c(msg_form="indef") + b"\x01", "err"),
        ("definite message + trailing byte", raw_v2c() + b"\x00", "err"),
        ("missing end-of-contents", raw_v2c(msg_form="indef")[:-2], "err"),
        ("end-of-contents 00 01", raw_v2c(msg_form="indef")[:-1] + b"\x01", "err"),
        ("element overruns its SEQUENCE", raw_v2c(extra_vb=b"\x04\x05ab"), "err"),
        ("extra element in varbind", raw_v2c(extra_vb=tlv(0x05, b"")), "err"),
        ("extra element in PDU", raw_v2c(extra_pdu=tlv(0x05, b"")), "err"),
        ("extra element in message", raw_v2c(extra_msg=tlv(0x05, b"")), "err"),
        ("varbind without value", raw_v2c(varbind=tlv(0x30, tlv(0x06, OID_X))), "err"),
        ("empty message", b"", "err"),
        ("just 30 00", b"\x30\x00", "err"),
        # integers
        ("empty INTEGER value", raw_v2c(value=i(b"")), "ok"),
        ("empty version INTEGER = v1", raw_v1(version=b""), "ok"),
        ("INTEGER padded 00 00 05", raw_v2c(value=i(b"\x00\x00\x05")), "ok"),
        ("INTEGER padded FF FF 80", raw_v2c(value=i(b"\xff\xff\x80")), "ok"),
        ("Integer32 max+1", raw_v2c(value=i(b"\x00\x80\x00\x00\x00")), "err"),
        ("Integer32 min", raw_v2c(value=i(b"\x80\x00\x00\x00")), "ok"),
        ("Integer32 min-1", raw_v2c(value=i(b"\xff\x7f\xff\xff\xff")), "err"),
        ("v1 Integer out of Integer32 range", raw_v1(value=i(b"\x01\x00\x00\x00\x00")), "err"),
        # unsigned values without their leading 00: read modulo the width, as net-snmp does
        ("Counter32 negative", raw_v2c(value=tlv(0x41, b"\xff")), "ok"),
        ("Gauge32 max without its 00", raw_v2c(value=tlv(0x42, b"\xff\xff\xff\xff")), "ok"),
        ("Gauge32 negative in 8 octets", raw_v2c(value=tlv(0x42, b"\x80" + b"\x00" * 7)), "ok"),
        ("Gauge32 negative in 9 octets", raw_v2c(value=tlv(0x42, b"\xff\x7f" + b"\x00" * 7)), "err"),
        ("Counter32 2^32", raw_v2c(value=tlv(0x41, b"\x01\x00\x00\x00\x00")), "err"),
        ("Gauge32 max padded", raw_v2c(value=tlv(0x42, b"\x00\x00\xff\xff\xff\xff")), "ok"),
        ("TimeTicks negative", raw_v2c(value=tlv(0x43, b"\x80")), "ok"),
        ("Counter64 max", raw_v2c(value=tlv(0x46, b"\x00" + b"\xff" * 8)), "ok"),
        ("Counter64 2^64", raw_v2c(value=tlv(0x46, b"\x01" + b"\x00" * 8)), "err"),
        ("Counter64 negative", raw_v2c(value=tlv(0x46, b"\xff" * 8)), "ok"),
        ("Counter64 negative in 9 octets", raw_v2c(value=tlv(0x46, b"\xff\x7f" + b"\xff" * 7)), "err"),
        ("Integer32 negative stays refused past its range", raw_v2c(value=tlv(0x02, b"\xff\x7f\xff\xff\xff")), "err"),
        ("Counter64 in v1", raw_v1(value=tlv(0x46, b"\x01")), "err"),
        ("request-id 2^31", raw_v2c(request_id=i(b"\x00\x80\x00\x00\x00")), "err"),
        ("request-id -2^31", raw_v2c(request_id=i(b"\x80\x00\x00\x00")), "ok"),
        ("error-status 99999 (unconstrained)", raw_v2c(status=i(b"\x01\x86\x9f")), "ok"),
        ("error-status -1", raw_v2c(status=i(b"\xff")), "ok"),
        ("error-index -1", raw_v2c(index=i(b"\xff")), "err"),
        ("v1 generic-trap 99 / specific -1", raw_v1(generic=i(b"\x63"), specific=i(b"\xff")), "ok"),
        ("v1 time-stamp negative", raw_v1(stamp=tlv(0x43, b"\xff")), "ok"),
        ("v1 Gauge negative", raw_v1(value=tlv(0x42, b"\xfe")), "ok"),
        ("v1 time-stamp as INTEGER", raw_v1(stamp=i(b"\x01")), "err"),
        # versions and PDUs
        ("version 2", raw_v2c(version=b"\x02"), "err"),
        ("version 3", raw_v2c(version=b"\x03"), "err"),
        ("version -1", raw_v2c(version=b"\xff"), "err"),
        ("version 257", raw_v2c(version=b"\x01\x01"), "err"),
        ("version 1 padded", raw_v2c(version=b"\x00\x01"), "ok"),
        ("v1 trap PDU in v2c", raw_v2c(pdu_tag=0xA4), "err"),
        ("v2 trap PDU in v1", raw_v1(pdu_tag=0xA7), "err"),
        ("primitive PDU tag", raw_v2c(pdu_tag=0x87), "err"),
        ("primitive SEQUENCE tag", b"\x10" + raw_v2c()[1:], "err"),
        ("long-form PDU tag BF 07", _long_tag_pdu(), "ok"),
        # OIDs
        ("OID 0x80 leading octet", raw_v2c(value=tlv(0x06, b"\x2b\x80\x01")), "err"),
        ("OID 0x80 inside an arc", raw_v2c(value=tlv(0x06, b"\x2b\x81\x80\x01")), "ok"),
        ("OID first octet 0x80", raw_v2c(value=tlv(0x06, b"\x80\x01")), "err"),
        ("OID empty", raw_v2c(value=tlv(0x06, b"")), "err"),
        ("OID name empty", raw_v2c(name=tlv(0x06, b"")), "err"),
        ("OID truncated arc", raw_v2c(value=tlv(0x06, b"\x2b\x81")), "err"),
        ("OID 20 continuation octets", raw_v2c(value=tlv(0x06, b"\x2b" + b"\x81" * 20 + b"\x01")), "ok"),
        ("OID 21 continuation octets", raw_v2c(value=tlv(0x06, b"\x2b" + b"\x81" * 21 + b"\x01")), "err"),
        ("OID arc 2^32", raw_v2c(value=tlv(0x06, b"\x2b\x90\x80\x80\x80\x00")), "ok"),
        ("OID single octet 0", raw_v2c(value=tlv(0x06, b"\x00")), "ok"),
        ("OID first 79 / 80", raw_v2c(value=tlv(0x06, b"\x4f\x50")), "ok"),
        ("OID 2.999 first arc multi-octet", raw_v2c(value=tlv(0x06, b"\x88\x37\x03")), "ok"),
        ("OID constructed", raw_v2c(value=tlv(0x26, tlv(0x06, b"\x2b"))), "err"),
        ("OID value name as OctetString", raw_v2c(name=tlv(0x04, OID_X)), "err"),
        # tags and constructed forms
        ("constructed INTEGER", raw_v2c(value=tlv(0x22, i(b"\x01"))), "err"),
        ("constructed Null", raw_v2c(value=tlv(0x25, b"")), "err"),
        ("constructed noSuchObject", raw_v2c(value=tlv(0xA0, b"")), "err"),
        ("constructed OctetString", raw_v2c(value=tlv(0x24, tlv(0x04, b"ab") + tlv(0x04, b"") + tlv(0x04, b"c"))), "ok"),
        ("constructed OctetString nested", raw_v2c(value=tlv(0x24, tlv(0x24, tlv(0x04, b"ab")))), "ok"),
        ("constructed OctetString, fragment of wrong type",
         raw_v2c(value=tlv(0x24, tlv(0x40, b"ab"))), "err"),
        ("constructed community", raw_v2c(community=tlv(0x24, tlv(0x04, b"pub") + tlv(0x04, b"lic"))), "ok"),
        ("constructed IpAddress", raw_v2c(value=tlv(0x60, tlv(0x04, b"\x0a\x00") + tlv(0x04, b"\x00\x01"))), "ok"),
        ("constructed v1 agent-addr", raw_v1(agent=tlv(0x60, tlv(0x04, b"\x0a\x00\x00\x01"))), "ok"),
        ("constructed Opaque", raw_v2c(value=tlv(0x64, tlv(0x04, b"op"))), "ok"),
        ("IpAddress 3 octets", raw_v2c(value=tlv(0x40, b"\x01\x02\x03")), "err"),
        ("IpAddress 5 octets", raw_v2c(value=tlv(0x40, b"\x01\x02\x03\x04\x05")), "err"),
        ("IpAddress 0 octets", raw_v2c(value=tlv(0x40, b"")), "err"),
        ("v1 agent-addr 16 octets", raw_v1(agent=tlv(0x40, bytes(16))), "err"),
        ("Null with content", raw_v2c(value=tlv(0x05, b"\x00")), "err"),
        ("noSuchInstance with content", raw_v2c(value=tlv(0x81, b"\x00")), "err"),
        ("noSuchObject in v1", raw_v1(value=tlv(0x80, b"")), "err"),
        ("unknown application tag 0x45", raw_v2c(value=tlv(0x45, b"\x01")), "err"),
        ("unknown application tag 0x47 (UInteger32)", raw_v2c(value=tlv(0x47, b"\x01")), "err"),
        ("context tag 0x83", raw_v2c(value=tlv(0x83, b"")), "err"),
        ("explicit-looking tag A5 wrapping INTEGER", raw_v2c(value=tlv(0xA5, i(b"\x01"))), "err"),
        ("explicit-looking tag A5 indefinite empty", raw_v2c(value=b"\xa5\x80\x00\x00"), "err"),
        ("long-form tag for OctetString 1F 04", raw_v2c(value=b"\x1f\x04\x02ab"), "ok"),
        ("long-form tag for Counter64 5F 06", raw_v2c(value=b"\x5f\x06\x01\x07"), "ok"),
        ("long-form tag non-minimal 5F 80 06", raw_v2c(value=b"\x5f\x80\x06\x01\x07"), "ok"),
        ("long-form tag 5F 1F (31)", raw_v2c(value=b"\x5f\x1f\x01\x07"), "err"),
        ("long-form tag 21 octets", raw_v2c(value=b"\x5f" + b"\x80" * 20 + b"\x06\x01\x07"), "err"),
        ("tag 00", raw_v2c(value=b"\x00\x00"), "err"),
        ("UTF8String tag", raw_v2c(value=tlv(0x0C, b"ab")), "err"),
    ]
    return cases


def _long_tag_pdu() -> bytes:
    """A v2c trap whose PDU identifier is written in long form: BF 07 (= A7)."""
    plain = raw_v2c()
    pdu_at = 2 + 3 + 8  # 30 len | 02 01 01 | 04 06 public
    body = plain[pdu_at + 2:]
    rebuilt = b"\xbf\x07" + length(len(body)) + body
    return tlv(0x30, plain[2:pdu_at] + rebuilt)


def nested_strings() -> list[tuple[str, bytes]]:
    """Constructed OCTET STRINGs nested around pyasn1's depth limit, in every position."""
    def nest(k, inner=b"ab", indef=False):
        x = tlv(0x04, inner)
        for _ in range(k):
            x = b"\x24\x80" + x + b"\x00\x00" if indef else tlv(0x24, x)
        return x
    out = []
    for k in range(88, 102):
        out.append((f"community nest {k}", raw_v2c(community=nest(k))))
        out.append((f"value nest {k}", raw_v2c(value=nest(k, indef=k % 2 == 0))))
        out.append((f"v1 value nest {k}", raw_v1(value=nest(k))))
        ip = nest(k, b"\x01\x02\x03\x04")
        out.append((f"v2 ip nest {k}", raw_v2c(value=b"\x60" + ip[1:])))
        out.append((f"v1 ip nest {k}", raw_v1(value=b"\x60" + ip[1:])))
        out.append((f"v1 agent nest {k}", raw_v1(agent=b"\x60" + ip[1:])))
    return out


# --------------------------------------------------------------------------- corpus (c)


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        op = rng.randrange(7)
        at = rng.randrange(len(b) + 1)
        if op == 0 and b:  # bit flip
            at = min(at, len(b) - 1)
            b[at] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert a byte, favouring structural values
            b.insert(at, rng.choice((0x00, 0x80, 0x81, 0x82, 0xFF, 0x30, 0x04, 0x02, 0x06, 0x24,
                                     rng.randrange(256))))
        elif op == 2 and b:  # delete
            del b[min(at, len(b) - 1)]
        elif op == 3:  # truncate
            del b[at:]
        elif op == 4 and b:  # length octet +-1
            at = min(at, len(b) - 1)
            b[at] = (b[at] + rng.choice((1, -1))) % 256
        elif op == 5 and b:  # replace with a random byte
            b[min(at, len(b) - 1)] = rng.randrange(256)
        else:  # duplicate a slice
            end = min(len(b), at + rng.randrange(1, 8))
            b[at:at] = b[at:end]
    return bytes(b)


def fuzz_corpus(seeds: list[bytes], count: int, seed: int = 20240501) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    return [(f"fuzz {n}", mutate(rng, rng.choice(seeds))) for n in range(count)]
