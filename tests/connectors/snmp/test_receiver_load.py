"""The live receiver under hostile and heavy traffic: fuzzed datagrams and an unpaced burst.

Real UDP on 127.0.0.1. Bounded: fixed seeds, fixed counts, every wait has a deadline.
Speed is measured in bench/traps.py, not asserted here; the burst test asserts zero loss.
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
from types import MappingProxyType

import pytest
from pyasn1.codec.ber import encoder as asn1_encoder
from pysnmp.proto.api import v1, v2c

from opsconductor.engine.config.bundle import ConnectorConfig, Source
from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.connectors.snmp.receiver import TrapReceiver
from waiting import aeventually

COMMUNITY = "public-test"
MARK = 0x7EADBEEF  # a 4-octet INTEGER patched per packet
# getsockopt(SO_RCVBUF) as Linux reports it (twice the usable size): each ~100-byte trap
# takes ~830 bytes of it on loopback, so 5,000 traps fit in 4 MiB without help from the reader
BURST_BUFFER = 4 * 1024 * 1024


def make_config(**extra) -> ConnectorConfig:
    user = MappingProxyType({"user": "noc", "auth_protocol": "sha", "auth_key": Secret("${env:A}", "authpass123"),
                             "priv_protocol": "aes", "priv_key": Secret("${env:P}", "privpass456"),
                             "engine_id": "0x8000000001020304aabbccdd"})
    settings = {"listen": ("127.0.0.1:0",), "communities": (Secret("${env:C}", COMMUNITY),), "v3_users": (user,), **extra}
    return ConnectorConfig(name="traps", type="snmp_trap", enabled=True, display_name="traps", poll_interval=60.0,
                           timeout=10.0, retries=3, tags=(), category=None, severity_map=MappingProxyType({}),
                           settings=MappingProxyType(settings), source=Source("connectors.d/traps.yaml", 1))


def v2c_packet(trap_oid: str, mark: int = MARK, inform: bool = False, community: str = COMMUNITY) -> bytes:
    pdu = v2c.InformRequestPDU() if inform else v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(pdu, [
        ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(4523311)), ("1.3.6.1.6.3.1.1.4.1.0", v2c.ObjectIdentifier(trap_oid)),
        ("1.3.6.1.2.1.2.2.1.1.10102", v2c.Integer(mark)), ("1.3.6.1.2.1.2.2.1.7.10102", v2c.Integer(1)),
        ("1.3.6.1.2.1.2.2.1.8.10102", v2c.Integer(2)), ("1.3.6.1.2.1.2.2.1.2.10102", v2c.OctetString("ge-0/0/1"))])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


def v1_packet() -> bytes:
    pdu = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(pdu)
    v1.apiTrapPDU.set_enterprise(pdu, "1.3.6.1.4.1.534.1.11.4.1")
    v1.apiTrapPDU.set_agent_address(pdu, "10.1.1.2")
    v1.apiTrapPDU.set_generic_trap(pdu, 6)
    v1.apiTrapPDU.set_specific_trap(pdu, 3)
    v1.apiTrapPDU.set_varbinds(pdu, [("1.3.6.1.4.1.534.1.11.3.0", v1.OctetString("UPS on battery"))])
    msg = v1.Message()
    v1.apiMessage.set_defaults(msg)
    v1.apiMessage.set_community(msg, COMMUNITY)
    v1.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


# An SNMPv3 authPriv linkDown as net-snmp's snmptrap sent it (user noc, SHA/AES, engine
# 8000000001020304aabbccdd), replayed: the mutants exercise pysnmp's USM path too.
V3_TRAP = bytes.fromhex(
    "3081b3020103301102045bd88866020300ffe304010302010304353033040c8000000001020304aabbccdd02010102030285c2"
    "04036e6f63040c6ab620839a5b870c2d2fb73104089ce2e23f51fe23740464e9ab6aa7491b692d4d34ec56071c92870895b4eb"
    "d10eff71c897ac3935d4d1589bcdd965521a82dfa7be870b19eb1c46ae24e6ea387663e5429eb68f6299a4a635074d25ffbe95"
    "7d792692b53ee1feaea4fd85bf2f571718a9db30b502e4d0be47ad1331")


def mutants(seeds: list[bytes], count: int, rng: random.Random):
    for i in range(count):
        kind = i % 6
        if kind == 0:
            yield rng.randbytes(rng.randrange(0, 300))
        elif kind == 5 and i % 600 == 5:
            yield rng.randbytes(65507)  # the largest IPv4 UDP payload
        else:
            data = bytearray(rng.choice(seeds))
            if kind == 1:
                del data[rng.randrange(1, len(data)):]  # truncated
            elif kind in (2, 5):
                for _ in range(rng.randrange(1, 4)):
                    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif kind == 3:
                data[rng.randrange(len(data))] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF))
            else:
                at = rng.randrange(len(data))
                data[at:at] = rng.randbytes(rng.randrange(1, 8))
            yield bytes(data)


def test_fuzzed_datagrams_never_stop_the_receiver(caplog):
    caplog.set_level(logging.WARNING, logger="opsconductor.engine.connectors.snmp.receiver")
    rng = random.Random(20250101)
    seeds = [v2c_packet("1.3.6.1.6.3.1.1.5.3"), v2c_packet("1.3.6.1.6.3.1.1.5.4", inform=True), v1_packet(),
             v2c_packet("1.3.6.1.6.3.1.1.5.3", community="wrong"), V3_TRAP]
    corpus = list(mutants(seeds, 3000, rng))
    events = []

    async def scenario():
        rx = TrapReceiver(make_config(), events.extend)
        await rx.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
                for i, data in enumerate(corpus):
                    s.sendto(data, rx.bound_addresses[0])
                    if i % 200 == 199:  # flow control: the kernel's buffer must not drop (the burst test's matter)
                        await aeventually(lambda sent=i + 1: rx.stats.received >= sent, "the receiver read what was sent")
                await aeventually(lambda: rx.stats.received == len(corpus), "the receiver read every datagram")
                s.sendto(v2c_packet("1.3.6.1.4.1.99999.0.42", mark=42), rx.bound_addresses[0])
                await aeventually(lambda: any(e.payload["trap_oid"] == "1.3.6.1.4.1.99999.0.42" for e in events),
                                  "a valid trap after the fuzz is handed off")
        finally:
            await rx.stop()
        return rx.stats.snapshot()
    stats = asyncio.run(scenario())
    assert stats.received == len(corpus) + 1
    assert stats.malformed > len(corpus) // 3, stats
    outcomes = (stats.decoded + stats.dropped_community + stats.dropped_v3_unknown_user + stats.dropped_v3_auth
                + stats.v3_discovery + stats.dropped_unsupported + stats.malformed + stats.dropped_overflow)
    assert outcomes == stats.received, stats  # every datagram is accounted for exactly once
    assert stats.handed_off == stats.decoded == len(events)
    # at most one line per reason per 10 s (the run is shorter than that)
    reasons = [r.getMessage().split(":")[1].split(" from")[0] for r in caplog.records]
    assert len(caplog.records) <= 12, reasons


def test_unpaced_burst_of_5000_traps_loses_nothing():
    count = 5000
    template = v2c_packet("1.3.6.1.6.3.1.1.5.3")
    at = template.index(MARK.to_bytes(4, "big"))
    packets = [template[:at] + i.to_bytes(4, "big") + template[at + 4:] for i in range(count)]
    events = []

    async def scenario():
        rx = TrapReceiver(make_config(), events.extend)
        await rx.start()
        try:
            granted = next(iter(rx.receive_buffers.values()))
            if granted < BURST_BUFFER:
                pytest.skip(f"the kernel granted a {granted}-byte receive buffer (net.core.rmem_max caps it and "
                            "this process may not use SO_RCVBUFFORCE); a 5,000-trap burst needs about "
                            f"{BURST_BUFFER}: run `sudo sysctl -w net.core.rmem_max=16777216` (make sysdeps)")
            target = rx.bound_addresses[0]
            def blast():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
                    for data in packets:
                        s.sendto(data, target)
            sender = threading.Thread(target=blast)
            sender.start()
            await asyncio.to_thread(sender.join, 30)
            await aeventually(lambda: rx.stats.handed_off >= count, "the burst handed off")
        finally:
            await rx.stop()  # joins the readers and hands off what they queued: a duplicate would be counted
        return rx.stats.snapshot(), rx.receive_buffers
    stats, buffers = asyncio.run(scenario())
    marks = sorted(e.payload["varbinds"][0]["value"] for e in events)
    assert marks == list(range(count)), f"{count - len(set(marks))} lost; stats {stats}; buffers {buffers}"
    assert len({e.event_id for e in events}) == count
    assert (stats.received, stats.decoded, stats.handed_off, stats.dropped_overflow) == (count, count, count, 0)


def test_a_refusing_sink_keeps_the_events_and_retries():
    calls = []

    def sink(batch):
        calls.append(len(batch))
        if len(calls) <= 3:
            raise RuntimeError("pipeline busy")
        received.extend(batch)
    received: list = []

    async def scenario():
        rx = TrapReceiver(make_config(), sink)
        await rx.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for i in range(20):
                    s.sendto(v2c_packet("1.3.6.1.6.3.1.1.5.3", mark=i), rx.bound_addresses[0])
            await aeventually(lambda: len(received) == 20, "the refused events handed off at last")
        finally:
            await rx.stop()
        return rx.stats.snapshot()
    stats = asyncio.run(scenario())
    assert sorted(e.payload["varbinds"][0]["value"] for e in received) == list(range(20))
    assert stats.sink_errors == 3 and stats.handed_off == 20 and stats.pending == 0
