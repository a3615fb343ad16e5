"""Where an event's time goes: each stage, formatting the batch for COPY, and PostgreSQL.

Runs the default tree's pipeline in one thread (no worker, no writer process), times
each stage per event, then writes the batches with store_batch on one connection and
reads that server process's CPU time, for the two mixes of bench/pipeline.py.

    .venv/bin/python bench/pipeline_costs.py [--events 20000]

Writes into a scratch database (see benchdb.py), dropped at the end.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import psutil
import psycopg

from opsconductor.engine.connectors.registry import NORMALIZERS
from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.pipeline.pipeline import STAGES, Pipeline
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.store.batch import prepare_batch, store_batch
from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.migrate import apply_migrations
from opsconductor.engine.service import tune_gc

sys.path.insert(0, str(Path(__file__).parent))
from benchdb import scratch_database, server_url  # noqa: E402
from pipeline import LINK_DOWN, ROOT, mixed, new_only, trap  # noqa: E402

BATCH = 1_000


def timed(stage, totals: dict):
    def run(work, ctx):
        started = time.perf_counter()
        out = stage(work, ctx)
        totals[stage.__name__] = totals.get(stage.__name__, 0.0) + time.perf_counter() - started
        return out
    return run


def measure(url: str, label: str, count: int, batch: int = BATCH) -> None:
    bundle = load_bundle(ROOT)
    with psycopg.connect(url) as conn:
        version = record_applied(conn, content_hash=bundle.content_hash, files=bundle.files).id
    totals: dict[str, float] = {}
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS, version_id=version, stages=tuple(timed(s, totals) for s in STAGES))
    events = list(new_only(count) if label == "new" else mixed(count, random.Random(1)))
    if label == "mixed":
        pipeline.process(trap(-1, LINK_DOWN, "10.20.0.2", 1))
    started = time.perf_counter()
    effects = [pipeline.process(e) for e in events]
    process = time.perf_counter() - started
    started = time.perf_counter()
    records = [prepare_batch(events[i:i + batch], effects[i:i + batch], version) for i in range(0, count, batch)]
    prepare = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        server = psutil.Process(conn.info.backend_pid)
        before = server.cpu_times()
        started = time.perf_counter()
        for record in records:
            store_batch(conn, record)
        write = time.perf_counter() - started
        after = server.cpu_times()
    pg = (after.user - before.user) + (after.system - before.system)
    per = lambda seconds: seconds / count * 1e6  # noqa: E731
    stages = ", ".join(f"{name} {per(seconds):.0f}" for name, seconds in totals.items())
    print(f"{label:6} ({batch}/batch) µs per event: stages {per(process):.0f} ({stages}); COPY text {per(prepare):.0f}; "
          f"write {per(write):.0f} wall, of which PostgreSQL CPU {per(pg):.0f}")
    pipeline.close()


def main() -> None:
    tune_gc()  # as `opsc serve` does
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=BATCH, help="events per batch (transaction); serve's batches at"
                        " 1,000 events/s hold a few")
    args = parser.parse_args()
    with server_url() as base:
        for label in ("new", "mixed"):
            with scratch_database(base) as url:
                apply_migrations(url)
                measure(url, label, args.events, args.batch)


if __name__ == "__main__":
    main()
