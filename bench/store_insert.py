"""Insert rate of the alert path: raw event + alert + its 'created' history row + a decision.

Each batch is one transaction through the one write path (store/batch.write_batch, COPY),
as the pipeline writes it. Prints alerts/s for batches of 1, 100 and 1000, 5,000 alerts
per size.

Server: OPSC_DATABASE_URL, else OPSC_TEST_DATABASE_URL, else an embedded PostgreSQL in
a temporary directory. The bench never writes into the database of that URL: it
creates a scratch database next to it, migrates it, and drops it at the end.

    .venv/bin/python bench/store_insert.py
"""
from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from opsconductor.engine.model import Alert, RawEvent, Severity, evolve, fingerprint
from opsconductor.engine.events import Normalized
from opsconductor.engine.pipeline.effects import Decision, Effects
from opsconductor.engine.store.batch import write_batch
from opsconductor.engine.store.migrate import apply_migrations
from opsconductor.engine.store.pool import redact_url

sys.path.insert(0, str(Path(__file__).parent))
from benchdb import scratch_database, server_url  # noqa: E402

BATCH_SIZES = (1, 100, 1000)
ALERTS_PER_SIZE = 5_000


def make_batch(size: int, run: str, start: int) -> tuple[list[RawEvent], list[Alert]]:
    now = datetime.now(timezone.utc)
    events, alerts = [], []
    for n in range(start, start + size):
        device = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        payload = {"oid": "1.3.6.1.6.3.1.1.5.3", "agent": device, "varbinds": [["1.3.6.1.2.1.2.2.1.1", n]]}
        events.append(RawEvent(f"{run}-{n}", "snmp-main", "snmp_trap", now, f"{device}:162", payload))
        alerts.append(Alert(
            source_system="snmp_trap", source_alert_id=f"{run}-{n}", severity=Severity.MAJOR, category="network",
            alert_type="link_down", title=f"Interface Down - sw-{n}", occurred_at=now, received_at=now,
            fingerprint=fingerprint("snmp_trap", device, "link_down", f"ifIndex={n}-{run}"),
            device_ip=device, device_name=f"sw-{n}", resource_key=f"ifIndex={n}", raw_data=payload,
            connector="snmp-main", tags=("bench",),
        ))  # fmt: skip
    return events, alerts


def measure_engine_path(conn: psycopg.Connection, batch_size: int) -> float:
    """The pipeline worker's path: store/batch.write_batch (COPY), with a decision per alert."""
    run = uuid.uuid4().hex[:8]
    batches = []
    for i in range(0, ALERTS_PER_SIZE, batch_size):
        events, alerts = make_batch(batch_size, run, i)
        alerts = [evolve(a, id=str(uuid.uuid4())) for a in alerts]
        effects = [Effects(e, created=(a,), decisions=(Decision(a.id, "bench", Normalized(a.source_system, a.alert_type)),))
                   for e, a in zip(events, alerts)]
        batches.append((events, effects))
    started = time.perf_counter()
    for events, effects in batches:
        write_batch(conn, events, effects, None)
    return ALERTS_PER_SIZE / (time.perf_counter() - started)


def main() -> int:
    with server_url() as url, scratch_database(url) as db:
        apply_migrations(db)
        with psycopg.connect(db, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            print(f"server: {redact_url(url)} (PostgreSQL {version}); {ALERTS_PER_SIZE} alerts per batch size")
            print("each alert = raw_events row + alerts row + alert_history 'created' row + decision row;"
                  " one transaction per batch")
            for size in BATCH_SIZES:
                print(f"batch {size:>5}: {measure_engine_path(conn, size):>9,.0f} alerts/s (engine COPY path)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
