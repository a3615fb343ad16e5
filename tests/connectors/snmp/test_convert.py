"""convert.py: RFC 3584 for SNMPv1, snmpTrapOID.0 for v2c (worked examples of CONNECTOR_APIS.md §9)."""
from __future__ import annotations

import pytest
from pyasn1.codec.ber import decoder as asn1_decoder
from pysnmp.proto.api import v1, v2c

from opsconductor.engine.connectors.snmp.ber import TrapMessage, VarBind, decode_message
from opsconductor.engine.connectors.snmp.convert import ConvertError, Notification, notification_of

from ber_reference import ref_value
from ber_corpus import SIKLU, XUPS, siklu_varbinds, v1_trap, v2c_message, v2c_trap


# --------------------------------------------------------------------------- convert.py


def _v1(enterprise, generic, specific, varbinds=(), agent="10.1.1.2", stamp=123456, community=b"public"):
    return TrapMessage(0, community, "trap_v1", tuple(varbinds), enterprise=enterprise, agent_addr=agent,
                       generic_trap=generic, specific_trap=specific, timestamp=stamp)


def test_convert_worked_examples():
    assert notification_of(_v1("1.3.6.1.4.1.9", 2, 0)).trap_oid == "1.3.6.1.6.3.1.1.5.3"
    assert notification_of(_v1(f"{XUPS}.11.4.1", 6, 3)).trap_oid == f"{XUPS}.11.4.1.0.3"
    assert notification_of(_v1(f"{SIKLU}.3", 6, 11)).trap_oid == f"{SIKLU}.3.0.11"
    for generic in range(6):
        assert notification_of(_v1("1.3.6.1.4.1.9", generic, 0)).trap_oid == f"1.3.6.1.6.3.1.1.5.{generic + 1}"


def test_convert_v1_varbind_order_follows_rfc3584():
    original = (VarBind(f"{XUPS}.7.2.1.1.17", "Integer32", 17),)
    note = notification_of(_v1(f"{XUPS}.11.4.1", 6, 3, original, stamp=42))
    assert note == Notification(
        trap_oid=f"{XUPS}.11.4.1.0.3", uptime=42, agent_addr="10.1.1.2",
        varbinds=(
            VarBind("1.3.6.1.2.1.1.3.0", "TimeTicks", 42),
            VarBind("1.3.6.1.6.3.1.1.4.1.0", "ObjectIdentifier", f"{XUPS}.11.4.1.0.3"),
            original[0],
            VarBind("1.3.6.1.6.3.18.1.3.0", "IpAddress", "10.1.1.2"),
            VarBind("1.3.6.1.6.3.18.1.4.0", "OctetString", b"public"),
            VarBind("1.3.6.1.6.3.1.1.4.3.0", "ObjectIdentifier", f"{XUPS}.11.4.1"),
        ))


def test_convert_v1_agrees_with_pysnmp_proxy_as_a_set():
    """pysnmp's rfc2576.v1_to_v2 yields the same varbinds, but puts the three appended ones
    right after snmpTrapOID.0; RFC 3584 and net-snmp put them last (as we do)."""
    from pysnmp.proto.proxy import rfc2576
    data = v1_trap(f"{SIKLU}.3", 6, 11, siklu_varbinds(module=v1))
    ours = notification_of(decode_message(data))
    msg, _ = asn1_decoder.decode(data, asn1Spec=v1.Message())
    v2pdu = rfc2576.v1_to_v2(v1.apiMessage.get_pdu(msg), snmpTrapCommunity="public")
    theirs = [(str(o), ref_value(v)) for o, v in v2c.apiPDU.get_varbinds(v2pdu)]
    assert sorted(theirs) == sorted((vb.oid, (vb.type, vb.value)) for vb in ours.varbinds)
    assert theirs[:2] == [(vb.oid, (vb.type, vb.value)) for vb in ours.varbinds[:2]]


def test_convert_v2c():
    data = v2c_trap(f"{SIKLU}.3.11", siklu_varbinds(), uptime=8812345)
    note = notification_of(decode_message(data))
    assert (note.trap_oid, note.uptime, note.agent_addr) == (f"{SIKLU}.3.11", 8812345, None)
    assert note.varbinds == decode_message(data).varbinds
    inform = notification_of(decode_message(v2c_trap("1.3.6.1.6.3.1.1.5.3", kind="inform")))
    assert inform.trap_oid == "1.3.6.1.6.3.1.1.5.3"
    proxied = v2c_trap("1.3.6.1.6.3.1.1.5.3", [("1.3.6.1.6.3.18.1.3.0", v2c.IpAddress("10.1.1.2"))])
    assert notification_of(decode_message(proxied)).agent_addr == "10.1.1.2"


@pytest.mark.parametrize("varbinds,why", [
    ([], "no snmpTrapOID.0"),
    ([("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(1))], "no snmpTrapOID.0"),
    ([("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(1)), ("1.3.6.1.6.3.1.1.4.1.0", v2c.OctetString("x"))], "not an OID"),
    ([("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(1)), ("1.3.6.1.2.1.1.5.0", v2c.ObjectIdentifier("1.3"))], "no snmpTrapOID.0"),
])
def test_convert_v2c_refuses_missing_trap_oid(varbinds, why):
    with pytest.raises(ConvertError, match=why):
        notification_of(decode_message(v2c_message(varbinds)))


def test_convert_refuses_odd_v1_headers_and_responses():
    with pytest.raises(ConvertError, match="generic-trap"):
        notification_of(_v1("1.3.6.1.4.1.9", 7, 0))
    with pytest.raises(ConvertError, match="specific-trap"):
        notification_of(_v1("1.3.6.1.4.1.9", 6, -1))
    with pytest.raises(ConvertError, match="response"):
        notification_of(decode_message(v2c_message([], kind="response")))
