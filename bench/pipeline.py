"""Events through the whole pipeline with persistence: events/s, receipt→commit latency, RSS.

Two mixes, as in the engine issue:
  new    — every event is a new alert (linkDown on a fresh interface);
  mixed  — 70% repeats of open alerts, 10% clears, 10% children behind a down switch, 10% new.
Then the RSS with 100,000 open alerts in memory. Each line also gives the engine's RSS
and the batch writer process's, and how busy the stage thread and the writer were.

    .venv/bin/python bench/pipeline.py [--events 20000] [--no-journal]

Events are handed over as `opsc serve` does: through the intake journal (written and
fdatasync'd before `submit` returns, intake/journal.py) in a scratch directory, unless
--no-journal.

Writes into a scratch database (see benchdb.py), dropped at the end.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import psycopg

from opsconductor.engine.connectors.registry import NORMALIZERS
from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.snmp.trapwire import trap_payload
from opsconductor.engine.intake.journal import Journal
from opsconductor.engine.model import RawEvent
from opsconductor.engine.pipeline.pipeline import Pipeline
from opsconductor.engine.worker import PipelineWorker
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.service import tune_gc
from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.migrate import apply_migrations

sys.path.insert(0, str(Path(__file__).parent))
from benchdb import scratch_database, server_url  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LINK_DOWN, LINK_UP, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


def trap(n: int, oid: str, device: str, if_index: int) -> RawEvent:
    return RawEvent(f"b{n}", "snmp-traps", "snmp_trap", datetime.now(timezone.utc), device,
                    trap_payload(oid, [(f"{IF_INDEX}.{if_index}", if_index)], uptime=n))


def device(i: int) -> str:
    return f"10.{100 + i // 65536 % 100}.{i // 256 % 256}.{i % 256}"


def new_only(count: int):
    for n in range(count):
        yield trap(n, LINK_DOWN, device(n // 8), n % 8 + 1)


def mixed(count: int, rng: random.Random):
    open_ifs: list[tuple[str, int]] = []
    fresh = 0
    for n in range(count):
        roll = rng.random()
        if roll < 0.7 and open_ifs:
            dev, idx = rng.choice(open_ifs)
            yield trap(n, LINK_DOWN, dev, idx)
        elif roll < 0.8 and open_ifs:
            dev, idx = open_ifs.pop(rng.randrange(len(open_ifs)))
            yield trap(n, LINK_UP, dev, idx)
        elif roll < 0.9:
            yield trap(n, COLD_START, f"10.20.1.{rng.randint(20, 250)}", 1)  # behind site1-switch (down)
        else:
            dev, idx = device(fresh // 8), fresh % 8 + 1
            fresh += 1
            open_ifs.append((dev, idx))
            yield trap(n, LINK_DOWN, dev, idx)


def run(url: str, events, label: str, count: int, rate: float | None = None, journal: bool = True) -> None:
    bundle = load_bundle(ROOT)
    with psycopg.connect(url) as conn:
        version = record_applied(conn, content_hash=bundle.content_hash, files=bundle.files)
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS, version_id=version.id)
    scratch = Path(tempfile.mkdtemp(prefix="opsc-bench-journal-")) if journal else None
    intake = Journal(scratch) if scratch else None
    if intake is not None:
        intake.open()
    worker = PipelineWorker(pipeline.held, url, lambda n: None, max_queue=20_000, max_batch=1_000,
                            journal=intake)
    worker.start()
    if label == "mixed":  # the switch the children hang behind is down for the whole run
        worker.submit([trap(-1, LINK_DOWN, "10.20.0.2", 1)])
        worker.drain()
    started = time.perf_counter()
    chunk: list[RawEvent] = []
    size = 500 if rate is None else max(1, int(rate / 100))  # paced: 100 chunks a second
    for n, event in enumerate(events):
        chunk.append(event)
        if rate is not None and len(chunk) == size:
            ahead = started + (n + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            event_time = datetime.now(timezone.utc)  # receipt = when it is handed over
            chunk = [RawEvent(e.event_id, e.connector, e.source_system, event_time, e.source_address, e.payload)
                     for e in chunk]
        if len(chunk) == size:
            while True:
                try:
                    worker.submit(chunk)
                    break
                except Exception:
                    time.sleep(0.005)
            chunk = []
    if chunk:
        worker.submit(chunk)
    worker.drain(timeout=600)
    elapsed = time.perf_counter() - started
    writer_rss = psutil.Process(worker.writer_pid).memory_info().rss / 2**20
    worker.stop()
    if intake is not None:
        syncs = intake.syncs
        intake.close()
        shutil.rmtree(scratch, ignore_errors=True)
    p50, p99 = worker.stats.percentile(0.5), worker.stats.percentile(0.99)
    rss = psutil.Process(os.getpid()).memory_info().rss / 2**20
    label = label if rate is None else f"{label} @{rate:,.0f}/s"
    print(f"{label:14} {count:>7} events  {count / elapsed:>8,.0f} events/s  p50 {p50 * 1000:7.1f} ms  "
          f"p99 {p99 * 1000:7.1f} ms  open alerts {len(pipeline.state.by_id):>7,}  RSS {rss:4.0f} MiB "
          f"+ writer {writer_rss:3.0f} MiB  "
          f"(stage thread busy {worker.stats.process_seconds / elapsed:.0%}, of which COPY text "
          f"{worker.stats.prepare_seconds / elapsed:.0%}; writer busy "
          f"{worker.stats.write_seconds / elapsed:.0%}"
          + (f"; journal {syncs} fsyncs)" if intake is not None else "; no journal)"))
    pipeline.close()


def journal_cost(count: int) -> None:
    """The intake journal alone: CPU to encode and append, wall time of a synced record."""
    events = list(new_only(count))
    scratch = Path(tempfile.mkdtemp(prefix="opsc-bench-journal-"))
    journal = Journal(scratch)
    journal.open()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(0, count, 500):
        written = journal.append(events[i:i + 500])
        journal.done({written.segment: len(events[i:i + 500])})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"intake journal: {cpu / count * 1e6:.1f} µs of CPU per event (pickle + write), "
          f"{wall / journal.syncs * 1000:.1f} ms per synced 500-event record ({journal.syncs} fdatasyncs)")
    journal.close()
    shutil.rmtree(scratch, ignore_errors=True)


def rss_at_open_alerts(target: int) -> None:
    """Memory of the in-memory view alone (no database): `target` open alerts."""
    bundle = load_bundle(ROOT)
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS)
    before = psutil.Process(os.getpid()).memory_info().rss
    for event in new_only(target):
        pipeline.process(event)
    after = psutil.Process(os.getpid()).memory_info().rss
    print(f"open alerts {len(pipeline.state.by_id):,}: process RSS {after / 2**20:.0f} MiB "
          f"({(after - before) / 2**20:.0f} MiB for the alerts, {(after - before) / target:.0f} bytes each)")
    now = datetime.now(timezone.utc)
    ticks = []
    for _ in range(5):  # what the worker runs once a second
        started = time.perf_counter()
        pipeline.tick(now)
        ticks.append(time.perf_counter() - started)
    print(f"tick with {len(pipeline.state.notified):,} notified open alerts: {max(ticks) * 1000:.2f} ms at most")
    pipeline.close()


def main() -> None:
    tune_gc()  # as `opsc serve` does
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--open-alerts", type=int, default=100_000)
    parser.add_argument("--no-journal", action="store_true", help="submit without the intake journal")
    args = parser.parse_args()
    if args.open_alerts:  # first, so the figure is not inflated by the runs below
        rss_at_open_alerts(args.open_alerts)
    if not args.no_journal:
        journal_cost(args.events)
    with server_url() as base:
        for label in ("new", "mixed"):  # as fast as it goes: throughput (latency is queueing)
            with scratch_database(base) as url:
                apply_migrations(url)
                events = new_only(args.events) if label == "new" else mixed(args.events, random.Random(1))
                run(url, events, label, args.events, journal=not args.no_journal)
        for label, rate in (("new", 1000.0), ("mixed", 2000.0)):  # paced: latency at a sustained rate
            with scratch_database(base) as url:
                apply_migrations(url)
                count = int(rate * 10)
                events = new_only(count) if label == "new" else mixed(count, random.Random(2))
                run(url, events, label, count, rate, journal=not args.no_journal)


if __name__ == "__main__":
    main()
