"""Trap receiver throughput on loopback: bounded bursts in, RawEvents and alerts out.

    .venv/bin/python bench/traps.py [--burst 5000] [--rate 10000] [--seconds 10] [--no-map] [--no-journal]

Starts the real TrapReceiver (the `snmp-traps` connector of the default config tree,
listening on 127.0.0.1, an ephemeral port) and a sender in a separate process that
sends pre-encoded v2c linkDown traps (each with its own ifIndex value):

1. burst: --burst traps, unpaced (as fast as one Python process can call sendto);
2. paced: --rate traps/s for --seconds (bounded: rate × seconds traps in all).

The sink first journals each batch as the engine's does (intake/journal.py: written and
fdatasync'd before the receiver may answer informs; the segments let go at once), unless
--no-journal; then another thread (the engine's stage thread) maps each batch through the real OID maps (normalize_trap with a ConfigView
of the default tree), as the pipeline would, unless --no-map. For each scenario it
prints traps sent, received, decoded, handed off, mapped (alerts), lost, the rates,
and the kernel's UDP receive-buffer drops (/proc/net/snmp RcvbufErrors) in that time.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import queue
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import MappingProxyType

from pyasn1.codec.ber import encoder as asn1_encoder
from pysnmp.proto.api import v2c

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.snmp.normalizer import normalize_trap
from opsconductor.engine.connectors.snmp.receiver import TrapReceiver
from opsconductor.engine.intake.journal import Journal
from opsconductor.engine.pipeline.context import ConfigView

ROOT = Path(__file__).resolve().parent.parent
MARK = 0x7EADBEEF
IFX = "1.3.6.1.2.1.2.2.1"


def template(community: str) -> bytes:
    pdu = v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(pdu, [
        ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(4523311)), ("1.3.6.1.6.3.1.1.4.1.0", v2c.ObjectIdentifier("1.3.6.1.6.3.1.1.5.3")),
        (f"{IFX}.1.10102", v2c.Integer(MARK)), (f"{IFX}.7.10102", v2c.Integer(1)), (f"{IFX}.8.10102", v2c.Integer(2))])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return asn1_encoder.encode(msg)


def send(addr: tuple, packet: bytes, first: int, count: int, rate: float, took) -> None:
    """Child process: send `count` traps, numbered from `first`, at `rate`/s (0 = unpaced)."""
    at = packet.index(MARK.to_bytes(4, "big"))
    packets = [packet[:at] + (first + i).to_bytes(4, "big") + packet[at + 4:] for i in range(count)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        start = time.perf_counter()
        for i, data in enumerate(packets):
            if rate and i % 10 == 0:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            s.sendto(data, addr)
        took.value = time.perf_counter() - start


def rcvbuf_errors() -> int:
    try:
        lines = Path("/proc/net/snmp").read_text().splitlines()
    except OSError:
        return -1
    udp = [line.split() for line in lines if line.startswith("Udp:")]
    return int(udp[1][udp[0].index("RcvbufErrors")])


class Sink:
    """What the engine's sink does with a batch: journal it (when given one), then queue it
    for another thread that maps it (the engine's stage thread), so the receiver's flusher
    waits for the disk but not for the mapping."""

    def __init__(self, view: ConfigView | None, journal: Journal | None = None):
        self.view = view
        self.journal = journal
        self.events = 0
        self.mapped = 0  # events the mapping thread is done with
        self.alerts = 0
        self.marks: set[int] = set()
        self.first = self.last = 0.0
        self._batches: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._map, daemon=True, name="bench-mapping").start()

    def __call__(self, batch) -> None:
        if self.journal is not None:
            written = self.journal.append(batch)
            self.journal.done({written.segment: len(batch)})
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        self.events += len(batch)
        self._batches.put(batch)

    def _map(self) -> None:
        while True:
            batch = self._batches.get()
            for event in batch:
                self.marks.add(event.payload["varbinds"][0]["value"])
                if self.view is not None:
                    self.alerts += len(normalize_trap(event, self.view))
            self.mapped += len(batch)


async def scenario(name: str, rx: TrapReceiver, sink: Sink, packet: bytes, first: int, count: int,
                   rate: float) -> None:
    before = rx.stats.snapshot()
    drops = rcvbuf_errors()
    sink.first = 0.0
    alerts = sink.alerts
    ctx = multiprocessing.get_context("spawn")
    took = ctx.Value("d", 0.0)
    proc = ctx.Process(target=send, args=(rx.bound_addresses[0], packet, first, count, rate, took))
    proc.start()
    await asyncio.to_thread(proc.join, count / rate + 30 if rate else 60)
    sent_in = took.value or 1e-9
    deadline = time.monotonic() + 15
    while rx.stats.handed_off - before.handed_off < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    while sink.mapped < sink.events and time.monotonic() < deadline + 30:  # the mapping thread catches up
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    after = rx.stats.snapshot()
    got = len({m for m in sink.marks if first <= m < first + count})
    span = (sink.last - sink.first) or 1e-9
    print(f"{name}: sent {count} in {sent_in:.2f} s ({count / sent_in:,.0f}/s)")
    print(f"  received {after.received - before.received}, decoded {after.decoded - before.decoded}, "
          f"handed off {after.handed_off - before.handed_off}, mapped {sink.alerts - alerts} alerts, "
          f"lost {count - got}")
    print(f"  handed off at {got / span:,.0f} traps/s (first to last sink batch, {span:.2f} s); "
          f"kernel RcvbufErrors +{rcvbuf_errors() - drops}")


async def main(args) -> None:
    bundle = load_bundle(ROOT)
    view = ConfigView(bundle)
    connector = next(c for c in bundle.connectors if c.type == "snmp_trap" and c.settings.get("communities"))
    settings = dict(connector.settings, listen=("127.0.0.1:0",))
    connector = dataclasses.replace(connector, settings=MappingProxyType(settings))
    community = settings["communities"][0].reveal()
    scratch = None if args.no_journal else Path(tempfile.mkdtemp(prefix="opsc-bench-journal-"))
    journal = Journal(scratch) if scratch else None
    if journal is not None:
        journal.open()
    sink = Sink(None if args.no_map else view, journal)
    rx = TrapReceiver(connector, sink)
    await rx.start()
    try:
        print(f"receiver {connector.name} on {rx.bound_addresses[0]}, receive buffer "
              f"{rx.receive_buffers} (getsockopt SO_RCVBUF; Linux reports twice the usable size)")
        packet = template(community)
        if not args.no_map:
            t = time.perf_counter()
            from opsconductor.engine.connectors.snmp.ber import decode_message  # mapping cost alone
            from opsconductor.engine.connectors.snmp.convert import notification_of
            from opsconductor.engine.connectors.snmp.trapwire import payload_of
            from opsconductor.engine.model import RawEvent
            event = RawEvent("x", connector.name, "snmp_trap", None, "127.0.0.1",  # type: ignore[arg-type]
                             payload_of("v2c", notification_of(decode_message(packet))))
            for _ in range(2000):
                normalize_trap(event, view)
            print(f"mapping alone: {2000 / (time.perf_counter() - t):,.0f} traps/s (normalize_trap, one core)")
        await scenario("burst, unpaced", rx, sink, packet, 0, args.burst, 0)
        await scenario(f"paced {args.rate:,}/s for {args.seconds} s", rx, sink, packet, args.burst,
                       int(args.rate * args.seconds), args.rate)
        print(f"receiver totals: {rx.stats.snapshot()}")
        if journal is not None:
            print(f"journal: {journal.syncs} fsyncs")
    finally:
        await rx.stop()
        if journal is not None:
            journal.close()
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-map", action="store_true", help="hand events to a counting sink only")
    parser.add_argument("--no-journal", action="store_true", help="do not journal before handing over")
    args = parser.parse_args()
    if not (0 < args.burst <= 200_000 and 0 < args.rate <= 200_000 and 0 < args.seconds <= 60):
        parser.error("bounded: --burst ≤ 200000, --rate ≤ 200000, --seconds ≤ 60")
    asyncio.run(main(args))
