"""The trap receiver over real UDP, fed by net-snmp's snmptrap / snmpinform.

Each test starts a TrapReceiver on 127.0.0.1 (or ::1) port 0, sends with the real
net-snmp tools, and checks the exact RawEvent payload that reaches the sink (what
normalizer.py reads), the counters, and that the inform senders got their answer.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
from dataclasses import replace
from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from pyasn1.codec.ber import decoder as asn1_decoder
from pysnmp.proto.api import v2c

from opsconductor.engine.config.bundle import ConnectorConfig, Source
from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.connectors.base import Backpressure
from opsconductor.engine.connectors.snmp.ber import TrapMessage, VarBind, decode_message
from opsconductor.engine.connectors.snmp.receiver import TrapReceiver
from opsconductor.engine.connectors.snmp.convert import Notification
from opsconductor.engine.connectors.snmp.trapwire import encode_response, json_value, payload_of, trap_payload
from opsconductor.engine.errors import ConnectorError
from waiting import aeventually

SNMPTRAP = shutil.which("snmptrap")
SNMPINFORM = shutil.which("snmpinform")
needs_netsnmp = pytest.mark.skipif(SNMPTRAP is None or SNMPINFORM is None,
                                   reason="net-snmp's snmptrap/snmpinform are not installed "
                                          "(Debian package `snmp`; `make sysdeps` installs it)")

COMMUNITY = "s3cret-comm"
ENGINE_ID = "0x8000000001020304aabbccdd"
USER = {"user": "noc", "auth_protocol": "sha", "auth_key": Secret("${env:A}", "authpass123"),
        "priv_protocol": "aes", "priv_key": Secret("${env:P}", "privpass456"), "engine_id": ENGINE_ID}
USER256 = {"user": "noc256", "auth_protocol": "sha256", "auth_key": Secret("${env:A}", "authpass-256"),
           "priv_protocol": "aes256", "priv_key": Secret("${env:P}", "privpass-256"), "engine_id": ENGINE_ID}
FIXED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
IFX = "1.3.6.1.2.1.2.2.1"
LINK = [f"{IFX}.1.10102", "i", "10102", f"{IFX}.7.10102", "i", "1", f"{IFX}.8.10102", "i", "2"]
LINK_VBS = [{"oid": f"{IFX}.1.10102", "type": "Integer32", "value": 10102},
            {"oid": f"{IFX}.7.10102", "type": "Integer32", "value": 1},
            {"oid": f"{IFX}.8.10102", "type": "Integer32", "value": 2}]


def make_config(listen=("127.0.0.1:0",), communities=(COMMUNITY,), v3_users=(), **extra) -> ConnectorConfig:
    settings = {"listen": tuple(listen), "communities": tuple(Secret(f"${{env:C{i}}}", c) for i, c in enumerate(communities)),
                "v3_users": tuple(MappingProxyType(u) for u in v3_users), **extra}
    return ConnectorConfig(name="traps", type="snmp_trap", enabled=True, display_name="traps", poll_interval=60.0,
                           timeout=10.0, retries=3, tags=(), category=None, severity_map=MappingProxyType({}),
                           settings=MappingProxyType(settings), source=Source("connectors.d/traps.yaml", 1))


class Sink:
    def __init__(self):
        self.batches: list[list] = []

    def __call__(self, events):
        self.batches.append(list(events))

    @property
    def events(self):
        return [e for b in self.batches for e in b]


async def wait_until(predicate) -> None:
    await aeventually(predicate, "the receiver's counters")


async def run_tool(*argv: str, timeout: float = 10.0) -> tuple[int, str]:
    env = dict(os.environ, MIBS="", MIBDIRS="/nonexistent", HOME="/nonexistent")  # no ~/.snmp state
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, env=env)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(errors="replace")


def target(receiver: TrapReceiver) -> str:
    host, port = receiver.bound_addresses[0]
    return f"udp6:[{host}]:{port}" if ":" in host else f"udp:{host}:{port}"


async def read_all_sent(rx: TrapReceiver) -> None:
    """Send a datagram that is not SNMP after what the tool sent (it has exited): once the
    receiver counts it malformed, it has read everything before it (one socket, read in order)."""
    before = rx.stats.malformed
    host, port = rx.bound_addresses[0]
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"not snmp", (host, port))
    await aeventually(lambda: rx.stats.malformed > before, "the receiver read the datagram sent last")


def stats_less_probe(rx: TrapReceiver):
    """The counters without read_all_sent's datagram."""
    stats = rx.stats.snapshot()
    return replace(stats, received=stats.received - 1, malformed=stats.malformed - 1)


async def one_event(argv: list[str], config: ConnectorConfig | None = None, inform: bool = False):
    sink = Sink()
    rx = TrapReceiver(config or make_config(), sink, clock=lambda: FIXED)
    await rx.start()
    try:
        code, out = await run_tool(*[a.replace("{target}", target(rx)) for a in argv])
        assert code == 0, out
        await read_all_sent(rx)
    finally:
        await rx.stop()  # joins the reader, then hands the sink what it queued
    assert len(sink.events) == 1  # one notification, one event: no duplicate, nothing lost
    event = sink.events[0]
    json.dumps(dict(event.payload))  # JSON-safe
    assert COMMUNITY not in json.dumps(dict(event.payload))
    return event, stats_less_probe(rx)


# --------------------------------------------------------------------------- v1, v2c, informs


@needs_netsnmp
def test_v1_generic_trap_is_converted_per_rfc_3584():
    event, stats = asyncio.run(one_event(
        [SNMPTRAP, "-v", "1", "-c", COMMUNITY, "{target}", "1.3.6.1.4.1.9", "10.1.1.2", "2", "0", "4523311"] + LINK))
    assert (event.connector, event.source_system, event.source_address, event.received_at) == \
        ("traps", "snmp_trap", "127.0.0.1", FIXED)
    assert dict(event.payload) == {
        "version": "v1", "trap_oid": "1.3.6.1.6.3.1.1.5.3", "uptime": 4523311, "agent_addr": "10.1.1.2",
        "varbinds": LINK_VBS + [
            {"oid": "1.3.6.1.6.3.18.1.3.0", "type": "IpAddress", "value": "10.1.1.2"},
            {"oid": "1.3.6.1.6.3.1.1.4.3.0", "type": "ObjectIdentifier", "value": "1.3.6.1.4.1.9"}]}
    assert (stats.received, stats.decoded, stats.handed_off, stats.malformed) == (1, 1, 1, 0)


@needs_netsnmp
def test_v1_enterprise_specific_trap():
    xups = "1.3.6.1.4.1.534.1"
    event, _ = asyncio.run(one_event(
        [SNMPTRAP, "-v", "1", "-c", COMMUNITY, "{target}", f"{xups}.11.4.1", "10.1.1.7", "6", "3", "123",
         f"{xups}.11.3.0", "s", "UPS on battery"]))
    assert event.payload["trap_oid"] == f"{xups}.11.4.1.0.3"
    assert event.payload["agent_addr"] == "10.1.1.7"
    assert event.payload["varbinds"][0] == {"oid": f"{xups}.11.3.0", "type": "OctetString", "value": "UPS on battery"}


@needs_netsnmp
def test_v2c_trap_with_every_value_type():
    types = ["1.3.6.1.4.1.99999.5.1", "u", "4294967295", "1.3.6.1.4.1.99999.5.2", "t", "7",
             "1.3.6.1.4.1.99999.5.3", "a", "192.0.2.1", "1.3.6.1.4.1.99999.5.4", "x", "00FF10",
             "1.3.6.1.4.1.99999.5.5", "c", "12", "1.3.6.1.4.1.99999.5.6", "o", "1.3.6.1.4.1.9.1",
             "1.3.6.1.4.1.99999.5.7", "s", "ünïcode\tline", "1.3.6.1.4.1.99999.5.8", "n", "",
             "1.3.6.1.4.1.99999.5.9", "C", "18446744073709551615"]
    event, stats = asyncio.run(one_event(
        [SNMPTRAP, "-v", "2c", "-c", COMMUNITY, "{target}", "4523311", "1.3.6.1.4.1.99999.0.9"] + types))
    p = event.payload
    assert (p["version"], p["trap_oid"], p["uptime"], p["agent_addr"]) == ("v2c", "1.3.6.1.4.1.99999.0.9", 4523311, None)
    assert [(v["type"], v["value"]) for v in p["varbinds"]] == [
        ("Gauge32", 4294967295), ("TimeTicks", 7), ("IpAddress", "192.0.2.1"), ("OctetString", "0x00ff10"),
        ("Counter32", 12), ("ObjectIdentifier", "1.3.6.1.4.1.9.1"), ("OctetString", "ünïcode\tline"),
        ("Null", None), ("Counter64", 18446744073709551615)]
    assert event.source_address == "127.0.0.1"
    assert stats.informs_answered == 0


@needs_netsnmp
def test_v2c_inform_is_answered():
    event, stats = asyncio.run(one_event(
        [SNMPINFORM, "-v", "2c", "-c", COMMUNITY, "-r", "0", "-t", "3", "{target}", "4523311",
         "1.3.6.1.6.3.1.1.5.3"] + LINK))
    assert dict(event.payload) == {"version": "v2c", "trap_oid": "1.3.6.1.6.3.1.1.5.3", "uptime": 4523311,
                                   "agent_addr": None, "varbinds": LINK_VBS}
    assert stats.informs_answered == 1


@needs_netsnmp
@pytest.mark.parametrize("version", ["v2c", "v3"])
def test_an_inform_is_answered_only_once_the_sink_took_its_event(version):
    """The engine's sink journals (fsync) before it returns: an inform answered is durable.
    A refused event is kept and offered again; its inform is answered once it is taken.
    SNMPv3 too: pysnmp writes the Response, the receiver holds it until then."""
    if version == "v2c":
        inform, config = [SNMPINFORM, "-v", "2c", "-c", COMMUNITY, "-r", "0", "-t", "5"], make_config()
    else:
        inform, config = _v3(SNMPINFORM, USER, "SHA", "AES", engine=False) + ["-t", "5"], make_config(v3_users=[USER])
    inform += ["{target}", "1", "1.3.6.1.6.3.1.1.5.3"] + LINK
    taken: list = []

    async def scenario():
        def sink(events):
            if not taken:  # the first offer is refused, as a full journal would
                taken.append(None)
                raise Backpressure("journal full")
            taken.append((len(events), rx.stats.snapshot().informs_answered))

        rx = TrapReceiver(config, sink, clock=lambda: FIXED)
        await rx.start()
        try:
            first, out1 = await run_tool(*[a.replace("{target}", target(rx)) for a in inform])
            second, out2 = await run_tool(*[a.replace("{target}", target(rx)) for a in inform])
        finally:
            await rx.stop()
        return first, second, out1 + out2, rx.stats.snapshot()

    first, second, out, stats = asyncio.run(scenario())
    assert (first, second) == (0, 0), out
    assert taken[1:] == [(1, 0), (1, 1)]  # each taken before its answer went out
    assert stats.informs_answered == 2 and stats.handed_off == 2 and stats.sink_errors == 1


def test_inform_response_is_what_pysnmp_expects():
    vbs = (VarBind("1.3.6.1.2.1.1.3.0", "TimeTicks", 4294967295), VarBind("1.3.6.1.6.3.1.1.4.1.0", "ObjectIdentifier", "2.999.1"),
           VarBind("1.3.6.1.4.1.1", "OctetString", b"\x00" * 200), VarBind("1.3.6.1.4.1.2", "IpAddress", "10.0.0.255"),
           VarBind("1.3.6.1.4.1.3", "Integer32", -129), VarBind("1.3.6.1.4.1.4", "Counter64", 2**64 - 1),
           VarBind("1.3.6.1.4.1.5", "Null", None), VarBind("1.3.6.1.4.1.300000", "Opaque", b"\x9f\x78\x04"))
    data = encode_response(TrapMessage(1, b"pub", "inform", vbs, request_id=-5, error_status=0, error_index=0))
    got = decode_message(data)  # our decoder …
    assert (got.pdu_type, got.request_id, got.community, got.varbinds) == ("response", -5, b"pub", vbs)
    msg, rest = asn1_decoder.decode(data, asn1Spec=v2c.Message())  # … and pysnmp's
    pdu = v2c.apiMessage.get_pdu(msg)
    assert not rest and int(v2c.apiPDU.get_request_id(pdu)) == -5 and len(v2c.apiPDU.get_varbinds(pdu)) == 8


def test_octet_strings_become_text_or_hex():
    def val(raw):
        return json_value(VarBind("1.3", "OctetString", raw))
    assert (val(b"up"), val(b""), val(b"a\r\nb"), val(b"\xff\xfe"), val(b"abc\x00"), val(b"\x1b[31m")) == \
        ("up", "", "a\r\nb", "0xfffe", "0x61626300", "0x1b5b33316d")
    assert json_value(VarBind("1.3", "Opaque", b"ab")) == "0x6162"


def test_a_trap_made_without_a_wire_has_the_receivers_payload_shape():
    """bench, rule tests and tests make trap events with trap_payload: the receiver's shape."""
    vbs = [{"oid": "1.3.6.1.2.1.2.2.1.1.4", "type": "Integer32", "value": 4},
           {"oid": "1.3.6.1.2.1.2.2.1.2.4", "type": "OctetString", "value": "ge-0/0/4"}]
    note = Notification("1.3.6.1.6.3.1.1.5.3", 77, tuple(
        VarBind(v["oid"], v["type"], v["value"].encode() if isinstance(v["value"], str) else v["value"]) for v in vbs),
        "10.1.1.2")
    made = trap_payload("1.3.6.1.6.3.1.1.5.3", [(v["oid"], v["value"]) for v in vbs], version="v1", uptime=77,
                        agent_addr="10.1.1.2")
    assert made == payload_of("v1", note) == {"version": "v1", "trap_oid": "1.3.6.1.6.3.1.1.5.3", "uptime": 77,
                                             "agent_addr": "10.1.1.2", "varbinds": vbs}


@needs_netsnmp
def test_wrong_community_is_counted_and_dropped():
    async def scenario():
        sink = Sink()
        rx = TrapReceiver(make_config(), sink)
        await rx.start()
        try:
            for argv in ([SNMPTRAP, "-v", "2c", "-c", "public", target(rx), "", "1.3.6.1.6.3.1.1.5.1"],
                         [SNMPTRAP, "-v", "1", "-c", COMMUNITY + "x", target(rx), "1.3.6.1.4.1.9", "", "0", "0", ""]):
                code, out = await run_tool(*argv)
                assert code == 0, out
            await wait_until(lambda: rx.stats.dropped_community == 2)
            await read_all_sent(rx)  # and nothing more came of them
        finally:
            await rx.stop()
        return sink, stats_less_probe(rx)
    sink, stats = asyncio.run(scenario())
    assert sink.batches == []
    assert (stats.received, stats.decoded, stats.dropped_community, stats.handed_off) == (2, 0, 2, 0)


# --------------------------------------------------------------------------- SNMPv3


def _v3(tool: str, user: dict, auth: str, priv: str, engine: bool = True) -> list[str]:
    argv = [tool, "-v", "3", "-u", user["user"], "-a", auth, "-A", user["auth_key"].reveal(), "-x", priv,
            "-X", user["priv_key"].reveal(), "-l", "authPriv", "-r", "1", "-t", "3"]
    return argv + (["-e", ENGINE_ID] if engine else [])


@needs_netsnmp
def test_v3_authpriv_sha_aes_trap():
    event, stats = asyncio.run(one_event(
        _v3(SNMPTRAP, USER, "SHA", "AES") + ["{target}", "4523311", "1.3.6.1.6.3.1.1.5.3"] + LINK,
        make_config(v3_users=[USER, USER256])))
    assert dict(event.payload) == {"version": "v3", "trap_oid": "1.3.6.1.6.3.1.1.5.3", "uptime": 4523311,
                                   "agent_addr": None, "varbinds": LINK_VBS}
    assert event.source_address == "127.0.0.1"
    assert (stats.decoded, stats.dropped_v3_unknown_user, stats.dropped_v3_auth) == (1, 0, 0)


@needs_netsnmp
def test_v3_sha256_aes256_trap():
    event, _ = asyncio.run(one_event(
        _v3(SNMPTRAP, USER256, "SHA-256", "AES-256") + ["{target}", "", "1.3.6.1.6.3.1.1.5.1"],
        make_config(v3_users=[USER, USER256])))
    assert (event.payload["version"], event.payload["trap_oid"], event.payload["varbinds"]) == \
        ("v3", "1.3.6.1.6.3.1.1.5.1", [])


@needs_netsnmp
def test_v3_inform_discovers_our_engine_and_is_answered():
    event, stats = asyncio.run(one_event(
        _v3(SNMPINFORM, USER, "SHA", "AES", engine=False) + ["{target}", "4523311", "1.3.6.1.6.3.1.1.5.4"] + LINK,
        make_config(v3_users=[USER])))
    assert dict(event.payload) == {"version": "v3", "trap_oid": "1.3.6.1.6.3.1.1.5.4", "uptime": 4523311,
                                   "agent_addr": None, "varbinds": LINK_VBS}
    assert stats.informs_answered == 1 and stats.v3_discovery >= 1


@needs_netsnmp
def test_v3_unknown_user_and_wrong_key_are_counted_and_dropped():
    stranger = dict(USER, user="stranger")
    wrong_key = dict(USER, auth_key=Secret("${env:A}", "not-the-key"))

    async def scenario():
        sink = Sink()
        rx = TrapReceiver(make_config(v3_users=[USER]), sink)
        await rx.start()
        try:
            for user in (stranger, wrong_key):
                code, out = await run_tool(*_v3(SNMPTRAP, user, "SHA", "AES"), target(rx), "", "1.3.6.1.6.3.1.1.5.1")
                assert code == 0, out
            await wait_until(lambda: rx.stats.dropped_v3_unknown_user + rx.stats.dropped_v3_auth == 2)
            await read_all_sent(rx)  # and nothing more came of them
        finally:
            await rx.stop()
        return sink, stats_less_probe(rx)
    sink, stats = asyncio.run(scenario())
    assert sink.batches == []
    assert (stats.dropped_v3_unknown_user, stats.dropped_v3_auth, stats.decoded) == (1, 1, 0)


def test_v3_without_users_is_dropped_as_unknown_user():
    async def scenario():
        rx = TrapReceiver(make_config(), Sink())
        await rx.start()
        try:  # an SNMPv3 header: version 3, then anything
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(bytes.fromhex("300b020103300602010102010a"), rx.bound_addresses[0])
            await wait_until(lambda: rx.stats.received == 1)
        finally:
            await rx.stop()
        return rx.stats.snapshot()
    assert asyncio.run(scenario()).dropped_v3_unknown_user == 1


# --------------------------------------------------------------------------- sockets


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@needs_netsnmp
@pytest.mark.skipif(not _has_ipv6(), reason="this host has no IPv6 loopback (::1)")
def test_ipv6_listener():
    config = make_config(listen=("[::1]:0", "127.0.0.1:0"))
    event, _ = asyncio.run(one_event(
        [SNMPTRAP, "-v", "2c", "-c", COMMUNITY, "{target}", "1", "1.3.6.1.6.3.1.1.5.3"] + LINK, config))
    assert event.source_address == "::1"
    assert event.payload["trap_oid"] == "1.3.6.1.6.3.1.1.5.3"


def test_bind_error_names_the_address():
    async def scenario():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("127.0.0.1", 0))
            port = taken.getsockname()[1]
            rx = TrapReceiver(make_config(listen=("127.0.0.1:0", f"127.0.0.1:{port}")), Sink())
            with pytest.raises(ConnectorError) as info:
                await rx.start()
            assert rx.bound_addresses == []  # the first socket was released again
            return port, info.value
    port, err = asyncio.run(scenario())
    assert str(err) == f"traps: listen: cannot bind 127.0.0.1:{port}: Address already in use"
    assert err.field == "listen"


@needs_netsnmp
def test_stop_releases_the_port_and_a_restart_works():
    async def scenario():
        sink = Sink()
        rx = TrapReceiver(make_config(), sink)
        await rx.start()
        port = rx.bound_addresses[0][1]
        await rx.stop()
        rx2 = TrapReceiver(make_config(listen=(f"127.0.0.1:{port}",)), sink)
        await rx2.start()
        try:
            code, out = await run_tool(SNMPTRAP, "-v", "2c", "-c", COMMUNITY, target(rx2), "", "1.3.6.1.6.3.1.1.5.1")
            assert code == 0, out
            await wait_until(lambda: sink.events)
        finally:
            await rx2.stop()
        await rx.stop()  # a second stop is harmless
        return sink.events
    assert asyncio.run(scenario())[0].payload["trap_oid"] == "1.3.6.1.6.3.1.1.5.1"


@pytest.mark.skipif(not os.path.exists("/proc/sys/net/core/rmem_max"), reason="Linux only: reads net.core.rmem_max")
def test_receive_buffer_is_as_large_as_the_kernel_allows():
    async def scenario():
        rx = TrapReceiver(make_config(), Sink())
        await rx.start()
        try:
            return rx.receive_buffers
        finally:
            await rx.stop()
    granted = asyncio.run(scenario())["127.0.0.1:0"]
    with open("/proc/sys/net/core/rmem_max") as f:
        cap = int(f.read())
    # 8 MiB by default; without CAP_NET_ADMIN (SO_RCVBUFFORCE) capped at net.core.rmem_max.
    # Linux reports twice the usable size.
    assert granted >= 2 * min(8 * 1024 * 1024, cap), (granted, cap)


@pytest.mark.skipif(not os.path.exists("/proc/sys/net/core/rmem_max"), reason="Linux only: reads net.core.rmem_max")
def test_a_capped_receive_buffer_is_a_loud_warning_saying_how_to_fix_it(caplog):
    with open("/proc/sys/net/core/rmem_max") as f:
        cap = int(f.read())
    # more than the kernel grants: past net.core.rmem_max, or (with CAP_NET_ADMIN) past SO_RCVBUFFORCE's INT_MAX / 2
    asked = 2 ** 31 - 1 if os.geteuid() == 0 else 2 * cap

    async def scenario():
        rx = TrapReceiver(make_config(receive_buffer=asked), Sink())
        await rx.start()
        await rx.stop()
    caplog.set_level(logging.WARNING, logger="opsconductor.engine.connectors.snmp.receiver")
    asyncio.run(scenario())
    (warning,) = [r for r in caplog.records if "receive buffer" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert f"not the {asked} bytes asked for" in warning.getMessage()
    assert f"sysctl -w net.core.rmem_max={asked}" in warning.getMessage()


def test_unavailable_community_secret_is_a_connector_error():
    config = make_config()
    settings = dict(config.settings, communities=(Secret("${env:NOPE}", None, "NOPE is not set"),))
    bad = ConnectorConfig(**{**config.__dict__, "settings": MappingProxyType(settings)})
    with pytest.raises(ConnectorError) as info:
        TrapReceiver(bad, Sink())
    assert info.value.field == "communities" and "NOPE is not set" in str(info.value)
