"""Faults stay with their datagram: the short version of bench/faults_traps.py, plus the
crashing datagrams fuzzing found (tests/connectors/snmp/fixtures/*.hex), over real UDP.

Asserts counts, never timings: no valid trap lost, no traceback, every datagram counted
under exactly one outcome, at most one warning per reason per interval.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from opsconductor.engine.connectors.snmp.ber import BerError, decode_message
from opsconductor.engine.connectors.snmp.convert import ConvertError, notification_of
from opsconductor.engine.connectors.snmp.receiver import TrapReceiver
from opsconductor.engine.connectors.snmp.trapstats import MAX_MESSAGE, drop_samples

import trapfuzz
from waiting import aeventually

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.hex"))


def fixture_bytes(path: Path) -> bytes:
    return bytes.fromhex("".join(line for line in path.read_text().splitlines() if not line.startswith("#")))


def outcomes(stats) -> int:
    return (stats.decoded + stats.dropped_community + stats.dropped_v3_unknown_user + stats.dropped_v3_auth
            + stats.v3_discovery + stats.dropped_unsupported + stats.malformed + stats.dropped_overflow)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_crashing_datagram_is_refused_with_a_bounded_message(path):
    data = fixture_bytes(path)
    assert trapfuzz.crashes(data) is None
    with pytest.raises((BerError, ConvertError)) as info:
        notification_of(decode_message(data))
    assert 0 < len(str(info.value)) < 300


def test_crashing_datagrams_between_valid_traps_lose_none_of_them(caplog):
    """Before the fix, each of these threw away its whole read batch with a traceback."""
    assert len(FIXTURES) >= 5
    caplog.set_level(logging.DEBUG)
    events = []
    rounds = 20

    async def scenario():
        rx = TrapReceiver(trapfuzz.config(), events.extend)
        await rx.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                mark = 0
                for _ in range(rounds):  # sent back to back: many share one read batch
                    for path in FIXTURES:
                        s.sendto(trapfuzz.valid(mark), rx.bound_addresses[0])
                        s.sendto(fixture_bytes(path), rx.bound_addresses[0])
                        mark += 1
            await aeventually(lambda: rx.stats.received == 2 * mark and not rx.stats.pending,
                              "the receiver read and handed off every datagram")
        finally:
            await rx.stop()
        return rx.stats.snapshot(), mark

    stats, sent = asyncio.run(scenario())
    assert sorted(trapfuzz.mark_of(e.payload) for e in events) == list(range(sent))
    assert stats.malformed == sent and outcomes(stats) == stats.received
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    # rate-limited (one line per reason: "malformed", "version"), and the number named by its size
    assert len(warnings) == 2 and all("octet number" in w for w in warnings), warnings
    assert all(len(w) < MAX_MESSAGE + 200 for w in warnings)
    assert {s["reason"]: n for s, n in drop_samples("fuzz", stats)}["malformed"] == sent


def test_20000_fuzzed_datagrams_with_valid_traps_interleaved():
    run = trapfuzz.run(20_000, seed=20260101)
    assert run.crashing == [], [why for _, why in run.crashing[:5]]
    assert run.sent == 20_000 and run.valid_sent == 200
    assert run.lost_marks == [] and run.duplicates == 0 and run.unexpected == 0
    assert run.valid_received == 200
    assert run.tracebacks == 0, run.warning_samples
    stats = run.stats
    assert stats.received == run.sent and outcomes(stats) == stats.received, stats
    assert stats.handed_off == stats.decoded and stats.dropped_overflow == 0
    assert stats.malformed > 5_000 and stats.dropped_community > 0 and stats.v3_discovery + stats.dropped_v3_auth \
        + stats.dropped_v3_unknown_user > 0, stats
    # unsigned values without their leading 00 are traps too (structured kind 4): some decoded beyond the valid ones
    assert stats.decoded > run.valid_sent
    assert run.warnings <= 16, run.warning_samples  # one line per reason per 10 s at most


@pytest.mark.skipif(not Path("/proc/net/udp").exists(), reason="Linux only: reads /proc/net/udp")
def test_kernel_drops_are_counted_as_socket_buffer():
    from opsconductor.engine.connectors.snmp.trapstats import kernel_drops
    import os

    # a socket nobody reads, with the smallest buffer: the kernel must drop most of 200 datagrams
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        quiet.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        quiet.bind(("127.0.0.1", 0))
        quiet.setblocking(False)
        for _ in range(200):
            sender.sendto(b"x" * 1000, quiet.getsockname())
        queued = 0
        while True:
            try:
                quiet.recv(2048)
                queued += 1
            except BlockingIOError:
                break
        assert kernel_drops({os.fstat(quiet.fileno()).st_ino}) == 200 - queued > 0

    # a live receiver with a tiny buffer under an unpaced burst: whatever the kernel drops is counted
    events = []

    async def scenario():
        rx = TrapReceiver(trapfuzz.config(receive_buffer=4096), events.extend)
        await rx.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for mark in range(2000):
                    s.sendto(trapfuzz.valid(mark), rx.bound_addresses[0])
            await aeventually(lambda: rx.stats.received + rx.stats.dropped_socket_buffer == 2000
                              and not rx.stats.pending, "every datagram read or counted as dropped by the kernel")
            return rx.stats.snapshot()
        finally:
            await rx.stop()

    stats = asyncio.run(scenario())
    assert stats.received + stats.dropped_socket_buffer == 2000 and len(events) == stats.decoded == stats.received
    assert {s["reason"]: n for s, n in drop_samples("fuzz", stats)}["socket_buffer"] == stats.dropped_socket_buffer
