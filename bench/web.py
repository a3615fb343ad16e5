"""Latency of the alert list on a million alerts: GET /api/v1/alerts and GET /alerts.

Fills a scratch database (next to OPSC_DATABASE_URL / OPSC_TEST_DATABASE_URL, or an
embedded PostgreSQL; dropped at the end) with 1,000,000 alerts, 100,000 of them open,
by COPY; serves the real app with uvicorn on 127.0.0.1 and times common filters over
HTTP, REQUESTS per case after a short warm-up (the API cases walk forward page by page).
Prints p50/p99 per case. Goal: p99 < 50 ms for every filter and page, text search (q=)
included: a rare word (one device's name), a word in no alert, a common word.

    .venv/bin/python bench/web.py            # ALERTS=200000 for a quicker run
"""
from __future__ import annotations

import hashlib
import os
import random
import socket
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg
import uvicorn

from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.store.migrate import apply_migrations
from opsconductor.web.app import WebSettings, create_app

sys.path.insert(0, str(Path(__file__).parent))
from benchdb import scratch_database, server_url  # noqa: E402

ALERTS = int(os.environ.get("ALERTS", 1_000_000))
OPEN = ALERTS // 10
REQUESTS = 60
WARMUP = 5
SEVERITIES = ("critical", "major", "minor", "warning", "info")
SEV_WEIGHTS = (3, 12, 25, 35, 25)
CATEGORIES = ("network", "power", "video", "wireless", "environment", "compute", "storage")
SOURCES = ("prtg", "snmp_trap", "milestone", "eaton_rest", "axis", "ubiquiti")
WORDS = ("link", "down", "battery", "camera", "offline", "cpu", "high", "disk", "full", "fan", "temperature",
         "tunnel", "packet", "loss", "latency", "power", "supply", "failed", "recording", "stopped")
NOW = datetime.now(timezone.utc)
# Proposed as migrations/009_alert_list_indexes.sql (PROPOSED_INDEXES=1 applies it here).
PROPOSED_MIGRATION = """
CREATE INDEX idx_alerts_open_received_at_id ON alerts (received_at DESC, id DESC) WHERE status <> 'resolved';
CREATE INDEX idx_alerts_open_severity_received_at_id ON alerts (severity, received_at DESC, id DESC)
    WHERE status <> 'resolved';
"""


def fill(url: str) -> None:
    rnd = random.Random(7)
    # The trigram index (migration 013) is built once after the load, as a restore would; the
    # same definition, read back from the catalogue.
    with psycopg.connect(url, autocommit=True) as conn:
        search_index = conn.execute("SELECT pg_get_indexdef('idx_alerts_search_trgm'::regclass)").fetchone()[0]
        conn.execute("DROP INDEX idx_alerts_search_trgm")
    columns = ("source_system", "source_alert_id", "device_ip", "device_name", "severity", "category", "alert_type",
               "title", "message", "status", "occurred_at", "received_at", "fingerprint", "raw_data")
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY alerts ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(ALERTS):
                is_open = i >= ALERTS - OPEN  # the newest tenth is open
                status = rnd.choices(("active", "acknowledged", "suppressed"), (7, 2, 1))[0] if is_open else "resolved"
                received = NOW - timedelta(seconds=(ALERTS - i) * 7.5 + rnd.random())
                dev = rnd.randrange(5000)
                sev = rnd.choices(SEVERITIES, SEV_WEIGHTS)[0]
                words = " ".join(rnd.sample(WORDS, 3))
                copy.write_row((rnd.choice(SOURCES), f"b{i}", f"10.{dev // 250}.{dev % 250}.1", f"dev-{dev:04d}", sev,
                                rnd.choice(CATEGORIES), f"type_{rnd.randrange(60)}", f"{words.capitalize()} #{i % 997}",
                                f"Synthetic alert {i}: {words}", status, received, received,
                                hashlib.md5(str(i).encode()).hexdigest(), '{"bench": true}'))
        conn.commit()
        conn.commit()
        conn.autocommit = True
        conn.execute(search_index)
        conn.execute("VACUUM ANALYZE alerts")  # the steady state autovacuum keeps (visibility map set)
        if os.environ.get("PROPOSED_INDEXES") == "1":
            conn.execute(PROPOSED_MIGRATION)
            conn.execute("ANALYZE alerts")
            print("with the proposed indexes", flush=True)
    print(f"filled {ALERTS:,} alerts ({OPEN:,} open) in {time.perf_counter() - started:.0f} s", flush=True)


def cases(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        ip = conn.execute("SELECT device_ip FROM alerts WHERE status = 'active' LIMIT 1").fetchone()[0]
    api = [
        ("newest, no filter", ""),
        ("status=open", "status=open"),
        ("active critical", "status=active&severity=critical"),
        ("open critical,major", "status=open&severity=critical,major"),
        ("category=power open", "status=open&category=power"),
        ("source=snmp_trap", "source_system=snmp_trap"),
        ("device_ip (one device)", f"device_ip={ip}"),
        ("q=battery open", "status=open&q=battery"),
        ("q=battery all", "q=battery"),
        ("q=device name (rare) all", "q=dev-0042"),
        ("q=device name open", "status=open&q=dev-4242"),
        ("q=no match", "q=zebrafish"),
        ("q=no match, critical open", "status=open&severity=critical&q=zebrafish"),
        ("resolved, limit 200", "status=resolved&limit=200"),
    ]
    return [(f"API  {name}", f"/api/v1/alerts?{q}") for name, q in api] + \
           [(f"PAGE {name}", f"/alerts?{q or 'status='}") for name, q in api[:4] + api[6:8] + api[10:13]]


def serve(url: str) -> tuple[uvicorn.Server, str]:
    settings = WebSettings(admin_token=Secret("${env:X}", "bench"), session_secret=os.urandom(32))
    app = create_app(database_url=url, engine=None, settings=settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def measure(base: str, path: str, client: httpx.Client) -> list[float]:
    times = []
    cursor_path = path
    for n in range(WARMUP + REQUESTS):
        t = time.perf_counter()
        r = client.get(base + cursor_path)
        elapsed = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise SystemExit(f"{path}: HTTP {r.status_code} {r.text[:200]}")
        if n >= WARMUP:
            times.append(elapsed)
        # The API cases walk forward page by page (keyset: deep pages cost the same).
        if path.startswith("/api/") and (nxt := r.json().get("next_cursor")):
            cursor_path = path + "&cursor=" + nxt if "?" in path else path + "?cursor=" + nxt
    return times


def main() -> None:
    with server_url() as server_address, scratch_database(server_address) as url:
        apply_migrations(url)
        fill(url)
        server, base = serve(url)
        worst = 0.0
        try:
            with httpx.Client(timeout=30) as client:
                print(f"{'case':34} {'p50 ms':>8} {'p99 ms':>8}   ({REQUESTS} requests each)")
                for name, path in cases(url):
                    times = sorted(measure(base, path, client))
                    p50 = statistics.median(times)
                    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
                    worst = max(worst, p99)
                    print(f"{name:34} {p50:8.1f} {p99:8.1f}", flush=True)
        finally:
            server.should_exit = True
        print(f"worst p99: {worst:.1f} ms ({'meets' if worst < 50 else 'MISSES'} the 50 ms goal)")


if __name__ == "__main__":
    main()
