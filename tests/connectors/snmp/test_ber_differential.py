"""ber.py decodes exactly what pysnmp decodes.

For every packet of a corpus (real-shaped traps built with pysnmp's encoder, packets
captured from net-snmp's snmptrap, hand-made BER edge cases, truncations and thousands
of fuzzed mutants) either both decoders refuse it, or both produce equal TrapMessages.
The reference is pysnmp's own receive path: verdec.decode_message_version, then the
pyasn1 BER decoder with pysnmp's v1/v2c Message spec, then (v1) the rfc2576 value map
pysnmp's notification receiver applies. Deliberate differences, asserted below:
bytes after an indefinite-length message are refused (pysnmp ignores them); messages
over 65507 octets are refused; non-trap PDUs are refused.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest
from pyasn1.codec.ber import decoder as asn1_decoder
from pyasn1.codec.ber import encoder as asn1_encoder
from pysnmp.proto.api import v2c, verdec

from opsconductor.engine.connectors.snmp import ber
from opsconductor.engine.connectors.snmp.ber import BerError, VarBind, decode_message
from opsconductor.engine.connectors.snmp.convert import notification_of

from ber_reference import assert_agree, compare, outcome, reference_decode
from ber_corpus import (IF, SIKLU, XUPS, edge_cases, fuzz_corpus, nested_strings, raw_v1, raw_v2c,
                        real_shaped_corpus, tlv, v2c_message, v2c_trap)

# --------------------------------------------------------------------------- tests


def test_real_shaped_traps_decode_identically():
    corpus = real_shaped_corpus()
    assert assert_agree(corpus, must_decode=True) == len(corpus)
    # spot-check the normalised values
    msg = decode_message(dict(corpus)["linkDown"])
    assert msg.varbinds[1] == VarBind("1.3.6.1.6.3.1.1.4.1.0", "ObjectIdentifier", "1.3.6.1.6.3.1.1.5.3")
    assert msg.varbinds[4] == VarBind(f"{IF}.8.10102", "Integer32", 2)
    every = {vb.oid.rsplit(".", 1)[1]: vb for vb in decode_message(dict(corpus)["every value type"]).varbinds[2:]}
    assert every["17"] == VarBind("1.3.6.1.4.1.99999.1.17", "Counter64", 2 ** 64 - 1)
    assert every["11"].value == "255.255.255.255" and every["9"].value == "2.999.4294967295.18446744073709551616"
    assert every["14"].type == "Gauge32" and every["23"].type == "OctetString"  # Unsigned32, Bits share tags
    assert every["20"].type == "NoSuchObject" and every["20"].value is None
    v1msg = decode_message(dict(corpus)["v1 Eaton onBattery"])
    assert (v1msg.enterprise, v1msg.agent_addr, v1msg.generic_trap, v1msg.specific_trap) == (
        f"{XUPS}.11.4.1", "10.1.1.2", 6, 3)


@pytest.mark.parametrize("label,data,expected", edge_cases(), ids=lambda x: x if isinstance(x, str) else None)
def test_edge_case(label, data, expected):
    assert compare(data) is None, compare(data)
    ref = outcome(reference_decode, data)
    if label.startswith("indefinite message + trailing"):
        # the one documented difference: pysnmp decodes it and ignores the tail
        msg, rest = asn1_decoder.decode(data, asn1Spec=v2c.Message())
        assert rest == b"\x01"
    assert outcome(decode_message, data)[0] == expected, ref


def test_nesting_limit_matches_pyasn1():
    corpus = nested_strings()
    decoded = assert_agree(corpus)
    oks = sum(outcome(decode_message, d)[0] == "ok" for _, d in corpus)
    assert 0 < oks < decoded  # the corpus straddles the limit


def test_every_truncation_of_real_packets():
    corpus = real_shaped_corpus()
    picks = [d for label, d in corpus if len(d) < 1000]
    cases = [(f"cut {len(d)}->{n}", d[:n]) for d in picks for n in range(len(d))]
    assert assert_agree(cases) == len(cases)
    assert all(outcome(decode_message, d)[0] == "err" for _, d in cases)


def test_oversized_and_v3_routing():
    big = v2c_trap("1.3.6.1.4.1.99999.0.4", [("1.3.6.1.4.1.99999.3", v2c.OctetString(b"y" * 65500))])
    assert len(big) > ber.MAX_MESSAGE_SIZE
    with pytest.raises(BerError, match="exceeds 65507"):
        decode_message(big)
    v3 = raw_v2c(version=b"\x03")
    with pytest.raises(ber.UnsupportedVersion) as info:
        decode_message(v3)
    assert info.value.version == 3 and int(verdec.decode_message_version(v3)) == 3
    with pytest.raises(ber.UnsupportedPdu):
        decode_message(v2c_message([], kind="get"))
    with pytest.raises(ber.UnsupportedPdu):
        decode_message(v2c_message([], kind="report"))


def test_errors_name_reason_and_offset():
    with pytest.raises(BerError) as info:
        decode_message(raw_v2c(value=tlv(0x06, b"\x2b\x80\x01")))
    assert info.value.offset > 0 and "0x80" in info.value.reason
    with pytest.raises(BerError) as info:
        decode_message(raw_v2c()[:-3])
    assert "truncated" in str(info.value) or "runs past" in str(info.value)
    assert isinstance(info.value, ber.OpscError)


def test_fuzzed_packets_decode_identically():
    seeds = [d for _, d in real_shaped_corpus() if len(d) < 2000]
    seeds += [d for _, d, _ in edge_cases()[:12]]
    corpus = fuzz_corpus(seeds, 12000)
    assert_agree(corpus)
    # the mutants must exercise both outcomes
    oks = sum(outcome(decode_message, d)[0] == "ok" for _, d in corpus)
    assert 300 < oks < len(corpus) - 300, oks


# --------------------------------------------------------------------------- net-snmp


def _capture(argv: list[str], answer_informs: bool = False, timeout: float = 5.0) -> bytes:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(timeout)
    port = sock.getsockname()[1]
    env = dict(os.environ, MIBS="", MIBDIRS="/nonexistent")
    args = [a.replace("{target}", f"udp:127.0.0.1:{port}") for a in argv]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        data, peer = sock.recvfrom(65535)
        if answer_informs:
            msg, _ = asn1_decoder.decode(data, asn1Spec=v2c.Message())
            req = v2c.apiMessage.get_pdu(msg)
            rsp = v2c.apiPDU.get_response(req)
            v2c.apiPDU.set_varbinds(rsp, v2c.apiPDU.get_varbinds(req))
            out = v2c.apiMessage.get_response(msg)
            v2c.apiMessage.set_pdu(out, rsp)
            sock.sendto(asn1_encoder.encode(out), peer)
        proc.wait(timeout=timeout)
        return data
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


SNMPTRAP = shutil.which("snmptrap")


@pytest.mark.skipif(SNMPTRAP is None, reason="net-snmp's snmptrap is not installed "
                    "(apt-get install snmp; `make sysdeps` does it)")
def test_packets_from_net_snmp_snmptrap():
    link = ["1.3.6.1.2.1.2.2.1.1.10102", "i", "10102", "1.3.6.1.2.1.2.2.1.7.10102", "i", "1",
            "1.3.6.1.2.1.2.2.1.8.10102", "i", "2"]
    eaton = [f"{XUPS}.7.2.1.1.17", "i", "17", f"{XUPS}.7.2.1.2.17", "o", f"{XUPS}.7.3",
             f"{XUPS}.11.3.0", "s", "UPS on battery"]
    types = ["1.3.6.1.4.1.99999.5.1", "u", "4294967295", "1.3.6.1.4.1.99999.5.2", "t", "0",
             "1.3.6.1.4.1.99999.5.3", "a", "192.0.2.1", "1.3.6.1.4.1.99999.5.4", "x", "00FF10",
             "1.3.6.1.4.1.99999.5.5", "c", "12", "1.3.6.1.4.1.99999.5.6", "i", "-2147483648",
             "1.3.6.1.4.1.99999.5.7", "s", "", "1.3.6.1.4.1.99999.5.8", "n", "",
             "1.3.6.1.4.1.99999.5.9", "C", "18446744073709551615"]
    v2 = [SNMPTRAP, "-v", "2c", "-c", "public", "{target}", "4523311"]
    v1a = [SNMPTRAP, "-v", "1", "-c", "public", "{target}"]
    packets = {
        "snmptrap v2c linkDown": _capture(v2 + ["1.3.6.1.6.3.1.1.5.3"] + link),
        "snmptrap v2c Eaton": _capture(v2 + [f"{XUPS}.11.4.1.0.3"] + eaton),
        "snmptrap v2c types": _capture(v2 + ["1.3.6.1.4.1.99999.0.9"] + types),
        "snmptrap v2c coldStart uptime auto": _capture(
            [SNMPTRAP, "-v", "2c", "-c", "public", "{target}", "", "1.3.6.1.6.3.1.1.5.1"]),
        "snmptrap v1 linkDown": _capture(v1a + ["1.3.6.1.4.1.9", "10.1.1.2", "2", "0", "4523311"] + link),
        "snmptrap v1 Eaton": _capture(v1a + [f"{XUPS}.11.4.1", "10.1.1.2", "6", "3", "123"] + eaton),
        "snmptrap v1 Siklu": _capture(v1a + [f"{SIKLU}.3", "10.50.1.21", "6", "11", "8812345",
                                             f"{SIKLU}.11.2.1.2.5017", "i", "10"]),
    }
    snmpinform = shutil.which("snmpinform")
    if snmpinform:
        packets["snmpinform v2c linkDown"] = _capture(
            [snmpinform, "-v", "2c", "-c", "public", "-r", "0", "-t", "2", "{target}", "4523311",
             "1.3.6.1.6.3.1.1.5.3"] + link, answer_informs=True)
    assert assert_agree(list(packets.items()), must_decode=True) == len(packets)
    got = decode_message(packets["snmptrap v1 Eaton"])
    assert (got.enterprise, got.agent_addr, got.specific_trap) == (f"{XUPS}.11.4.1", "10.1.1.2", 3)
    assert notification_of(got).trap_oid == f"{XUPS}.11.4.1.0.3"
    types_msg = {vb.oid: vb for vb in decode_message(packets["snmptrap v2c types"]).varbinds}
    assert types_msg["1.3.6.1.4.1.99999.5.9"] == VarBind("1.3.6.1.4.1.99999.5.9", "Counter64", 2 ** 64 - 1)
    assert types_msg["1.3.6.1.4.1.99999.5.4"].value == b"\x00\xff\x10"
    # fuzz the captured packets as well
    assert_agree(fuzz_corpus(list(packets.values()), 1500, seed=7))


def test_unsigned_values_without_their_leading_zero_read_as_net_snmp_does():
    # net-snmp's asn_parse_unsigned_int sign-extends up to 8 octets, then keeps the low 32 (64) bits
    cases = [(tlv(0x42, b"\xff\xff\xff\xff"), "Gauge32", 4294967295), (tlv(0x41, b"\xff"), "Counter32", 4294967295),
             (tlv(0x43, b"\x80"), "TimeTicks", 4294967168), (tlv(0x46, b"\xff" * 8), "Counter64", 2 ** 64 - 1),
             (tlv(0x46, b"\x80"), "Counter64", 2 ** 64 - 128), (tlv(0x42, b"\x80" + b"\x00" * 7), "Gauge32", 0)]
    for value, name, expected in cases:
        (vb,) = decode_message(raw_v2c(value=value)).varbinds
        assert (vb.type, vb.value) == (name, expected), value.hex()
        assert compare(raw_v2c(value=value)) is None
    assert decode_message(raw_v1(stamp=tlv(0x43, b"\xff"))).timestamp == 4294967295
    with pytest.raises(BerError, match="out of range"):  # 9 octets: net-snmp refuses it too
        decode_message(raw_v2c(value=tlv(0x42, b"\xff\x7f" + b"\x00" * 7)))
    with pytest.raises(BerError, match="out of range"):  # a signed type is not wrapped
        decode_message(raw_v2c(value=tlv(0x02, b"\xff\x7f\xff\xff\xff")))


def test_a_huge_integer_is_refused_with_a_bounded_message():
    huge = tlv(0x02, b"\x01" + b"\x00" * 2000)  # more digits than int -> str allows
    for packet in (raw_v2c(value=huge), raw_v2c(request_id=huge), raw_v1(stamp=b"\x43" + huge[1:])):
        with pytest.raises(BerError) as info:
            decode_message(packet)
        assert "2001-octet number" in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(ber.UnsupportedVersion) as version:
        decode_message(raw_v2c(version=huge[4:]))
    assert "octet number" in str(version.value)
