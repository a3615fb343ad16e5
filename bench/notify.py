"""Notifications end to end, through the real front door: a live `opsc serve`, alerts in,
a webhook channel out to a local sink. What the operator gets, not what was committed.

    .venv/bin/python bench/notify.py [--alerts 20000] [--rate 1000] [--per-post 1] [--warmup 1000] [--traps 5000]

1. webhook: --alerts Alertmanager-format alerts, --per-post per POST, paced at --rate
   alerts/s (0 = as fast as 32 keep-alive connections go) to POST /api/v1/events/am, after
   --warmup alerts at the same rate that are delivered first and reported apart;
2. traps: --traps SNMPv2c linkDown traps (each its own ifIndex, so its own alert) by UDP
   to the snmp_trap connector, at --rate;
3. delivery alone: the engine stopped, --outbox notifications put in the outbox at once
   and drained by one Notifier in this process (the delivery capacity, without intake);
4. then --paced notifications committed to the outbox at --rate (a commit every 10 ms; the
   notifier LISTENs, as in serve): commit → sink latency, the notifier's share.

Every new alert is one notification (a rule sends everything to the `hook` webhook
channel, no grouping, no storm guard) to a sink in a process of its own (webhook_sink.py). Prints per scenario:
intake (alerts/s accepted, POST latency), delivered/s, latency POST→sink p50/p90/p99
(traps: k-th sent → k-th delivered), dropped (sent − delivered; must be 0), CPU per
notification of every process on the path (serve: engine and writer; notifier; sink; the
PostgreSQL backends of the scratch database; this load generator) and their total, and peak RSS. A scratch database next to
OPSC_DATABASE_URL / OPSC_TEST_DATABASE_URL (or an embedded PostgreSQL) is dropped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from benchdb import scratch_database, server_url  # noqa: E402
from traps import MARK, template  # noqa: E402
from webhook_sink import SinkProcess  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-1"
WAIT_AFTER = 120.0  # seconds to wait for the last deliveries after the last send


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(directory: Path, sink: str, trap_port: int) -> None:
    shutil.copytree(ROOT / "oidmaps", directory / "oidmaps")
    (directory / "connectors.d").mkdir()
    (directory / "rules").mkdir()
    (directory / "connectors.d" / "am.yaml").write_text(
        "name: am\ntype: webhook\nformat: alertmanager\nauth:\n  bearer_token: ${env:BENCH_TOKEN}\n")
    (directory / "connectors.d" / "traps.yaml").write_text(
        f"name: traps\ntype: snmp_trap\nlisten:\n  - 127.0.0.1:{trap_port}\ncommunities:\n  - ${{env:BENCH_COMMUNITY}}\nunmapped: alert\n")
    (directory / "rules" / "notify.yaml").write_text(
        f"channels:\n  - name: hook\n    type: webhook\n    url: {sink}/hook\n    timeout: 10s\n    storm_guard: false\n"
        "rules:\n  - name: everything\n    notify:\n      channels: [hook]\n")


class Engine:
    def __init__(self, config: Path, database: str, port: int) -> None:
        env = {**os.environ, "BENCH_TOKEN": TOKEN, "BENCH_COMMUNITY": "public", "OPSC_ADMIN_TOKEN": "bench-admin-1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "opsconductor.engine.cli", "serve", "--config", str(config),
                                      "--database-url", database, "--port", str(port), "--no-watch",
                                      "--skip-rule-tests"], env=env, stdout=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        self.database = urlsplit(database).path.lstrip("/")
        self.ps = psutil.Process(self.proc.pid)
        self.peak_rss = 0

    def processes(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far by role: the engine process, the batch writer, the notifier."""
        out = {"engine": 0.0, "writer": 0.0, "notifier": 0.0}
        for p in self.processes():
            try:
                t = p.cpu_times()
                line = " ".join(p.cmdline())
            except psutil.NoSuchProcess:
                continue
            role = "writer" if "store.writer" in line else "notifier" if "notify.process" in line else "engine"
            out[role] += t.user + t.system
        return out

    def sample_rss(self) -> None:
        rss = 0
        for p in self.processes():
            try:
                rss += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        self.peak_rss = max(self.peak_rss, rss)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def am_body(first: int, count: int) -> bytes:
    return orjson.dumps({"version": "4", "status": "firing", "receiver": "opsc", "alerts": [
        {"status": "firing", "labels": {"alertname": "BenchDown", "instance": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}."
                                        f"{i & 255}:9100", "severity": "critical", "job": "bench"},
         "annotations": {"summary": f"bench-{i}"}, "startsAt": "2026-03-01T12:00:00Z",
         "fingerprint": f"b{i:015x}"} for i in range(first, first + count)]})


async def post_alerts(base: str, total: int, per_post: int, rate: float,
                      engine: Engine, start: int = 0) -> tuple[dict[str, float], list[float], int]:
    """Sends; returns title → send time, POST latencies and failed POSTs. The load
    generator is the notifier's own HTTP client (32 keep-alive connections): aiohttp cost
    ~0.25 ms of CPU a POST, CPU this two-core machine's engine, PostgreSQL and sink then
    queued behind (its share is printed, as `load`)."""
    from opsconductor.engine.notify.http import HttpClient, Timeout, TransportError

    sent: dict[str, float] = {}
    latencies: list[float] = []
    failed = 0
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    url = f"{base}/api/v1/events/am"
    sem = asyncio.Semaphore(32)
    started = time.perf_counter()
    client = HttpClient(pool_per_host=32)

    async def one(first: int) -> None:
        nonlocal failed
        count = min(per_post, start + total - first)
        body = am_body(first, count)
        async with sem:
            t0 = time.time()
            try:
                ok = (await client.request("POST", url, body, headers, timeout=60.0)).status == 202
            except (Timeout, TransportError):
                ok = False
            latencies.append(time.time() - t0)
        if ok:
            for i in range(first, first + count):
                sent[f"bench-{i}"] = t0
        else:
            failed += count

    try:
        tasks = []
        for first in range(start, start + total, per_post):
            if rate:
                delay = started + (first - start) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(first)))
            if first % 1000 < per_post:
                engine.sample_rss()
        await asyncio.gather(*tasks)
    finally:
        await client.close()
    return sent, latencies, failed


def send_traps(port: int, total: int, rate: float) -> list[float]:
    packet = template("public")
    at = packet.index(MARK.to_bytes(4, "big"))
    times = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        started = time.perf_counter()
        for i in range(total):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            times.append(time.time())
            s.sendto(packet[:at] + (1_000_000 + i).to_bytes(4, "big") + packet[at + 4:], ("127.0.0.1", port))
    return times


def wait_for(sink: SinkProcess, engine: Engine | None, count: int, since: int) -> None:
    deadline = time.monotonic() + WAIT_AFTER
    while True:
        if engine is not None:
            engine.sample_rss()
        if sink.count() - since >= count or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a[k] - b.get(k, 0.0) for k in a}


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


BATCH_COUNTERS = ("opsc_pipeline_batches_total", "opsc_events_written_total", "opsc_pipeline_stage_seconds_total",
                  "opsc_store_write_seconds_total")


def batch_counters(engine: Engine) -> dict[str, float]:
    """The engine's batch counters now (read again after a scenario: the difference is its)."""
    import urllib.request

    text = urllib.request.urlopen(f"{engine.url}/metrics", timeout=10).read().decode()
    return {name: float(value) for name, _, value in (line.partition(" ") for line in text.splitlines())
            if name in BATCH_COUNTERS}


def batch_figures(before: dict[str, float], after: dict[str, float]) -> str:
    """How the scenario's events were batched: one transaction (and ~14 round trips to
    PostgreSQL) per batch, so at moderate rates the batch count sets the cost."""
    n = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in BATCH_COUNTERS}
    batches = max(n["opsc_pipeline_batches_total"], 1.0)
    return (f"{n['opsc_pipeline_batches_total']:,.0f} batches of {n['opsc_events_written_total'] / batches:,.1f} events;"
            f" per batch: stages {n['opsc_pipeline_stage_seconds_total'] / batches * 1000:.2f} ms, writer (first try"
            f" → commit) {n['opsc_store_write_seconds_total'] / batches * 1000:.2f} ms")


def engine_figures(engine: Engine) -> str:
    """The engine's own view from /metrics: receipt → commit latency, the outbox."""
    import urllib.request

    try:
        text = urllib.request.urlopen(f"{engine.url}/metrics", timeout=10).read().decode()
    except OSError as exc:
        return f"/metrics unreadable: {exc}"
    values, buckets = {}, []
    for line in text.splitlines():
        if line.startswith(("opsc_pipeline_latency_seconds{", "opsc_notification_outbox_depth ",
                            "opsc_notification_outbox_oldest_seconds ", 'opsc_notifications_total{status="dropped"}')):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
        elif line.startswith("opsc_pipeline_latency_seconds_bucket{"):  # a histogram: quantiles from buckets
            name, _, value = line.rpartition(" ")
            buckets.append((float(name.split('le="')[1].split('"')[0]), float(value)))

    def quantile(q: float) -> float:
        if 'opsc_pipeline_latency_seconds{quantile="%s"}' % q in values:
            return values['opsc_pipeline_latency_seconds{quantile="%s"}' % q]
        total = buckets[-1][1] if buckets else 0
        return next((le for le, n in sorted(buckets) if total and n >= q * total), float("nan"))

    p50, p99 = quantile(0.5), quantile(0.99)
    return (f"receipt→commit p50 {p50 * 1000:,.1f} ms p99 {p99 * 1000:,.1f} ms (recent events); outbox now "
            f"{values.get('opsc_notification_outbox_depth', 0):,.0f} rows")


def report(name: str, sent: int, delivered: int, latencies: list[float], first: float, last: float,
           cpu: dict[str, float], engine: Engine, intake: str, batches: str) -> None:
    span = max(last - first, 1e-9)
    print(f"\n{name}")
    print(f"  intake       {intake}")
    print(f"  delivered    {delivered:,} of {sent:,} in {span:.1f} s: {delivered / span:,.0f} notifications/s")
    print(f"  latency      p50 {pct(latencies, .5) * 1000:,.1f} ms  p90 {pct(latencies, .9) * 1000:,.1f} ms"
          f"  p99 {pct(latencies, .99) * 1000:,.1f} ms  max {max(latencies, default=0) * 1000:,.1f} ms")
    print(f"  dropped      {sent - delivered:,}")
    per = {k: v / max(delivered, 1) * 1000 for k, v in cpu.items()}
    print(f"  CPU          ms per notification: serve {per['engine'] + per['writer']:.3f} (engine {per['engine']:.3f}:"
          f" intake and stages, writer {per['writer']:.3f}), notifier {per['notifier']:.3f}, sink {per['sink']:.3f},"
          f" postgres {per['postgres']:.3f}, load generator {per['load']:.3f}; total {sum(per.values()):.3f}")
    print(f"  RSS          {engine.peak_rss / 2**20:,.0f} MiB peak (engine, writer and notifier processes)")
    print(f"  engine       {engine_figures(engine)}")
    print(f"  batches      {batches}")


def postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving `database` (their title names it);
    the server's shared processes (WAL writer, checkpointer) are left out."""
    total = 0.0
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if p.info["name"] == "postgres" and f" {database} " in " ".join(p.info["cmdline"] or ()) + " ":
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def cpu_of(engine: Engine, sink: SinkProcess) -> dict[str, float]:
    me = psutil.Process().cpu_times()
    return {**engine.cpu(), "sink": sink.cpu(), "postgres": postgres_cpu(engine.database), "load": me.user + me.system}


WARMUP_FIRST = 10_000_000  # warm-up alerts are numbered from here: other fingerprints, other titles


async def warm_up(args, engine: Engine, sink: SinkProcess) -> None:
    """--warmup alerts first, at the same rate, delivered before the measuring starts: the
    first second after a start (connections opened, statements prepared, caches filled)
    is slower, and would otherwise weigh on a p99 of 20,000. Its figures are printed apart."""
    since = sink.count()
    sent, _, _ = await post_alerts(engine.url, args.warmup, args.per_post, args.rate, engine, start=WARMUP_FIRST)
    await asyncio.to_thread(wait_for, sink, engine, len(sent), since)
    arrivals = {title: at for at, title in sink.arrivals(since) if title in sent}
    latencies = [arrivals[t] - sent[t] for t in arrivals]
    print(f"\nwarm-up: {len(sent):,} alerts first, not measured: POST→sink p50 {pct(latencies, .5) * 1000:,.1f} ms"
          f" p99 {pct(latencies, .99) * 1000:,.1f} ms max {max(latencies, default=0) * 1000:,.1f} ms,"
          f" {len(sent) - len(arrivals)} not delivered")


async def webhook_scenario(args, engine: Engine, sink: SinkProcess) -> None:
    if args.warmup:
        await warm_up(args, engine, sink)
    since, cpu0, counters0 = sink.count(), cpu_of(engine, sink), batch_counters(engine)
    t0 = time.time()
    sent, post_lat, failed = await post_alerts(engine.url, args.alerts, args.per_post, args.rate, engine)
    t1 = time.time()
    await asyncio.to_thread(wait_for, sink, engine, len(sent), since)
    cpu = _minus(cpu_of(engine, sink), cpu0)
    arrivals = {title: at for at, title in sink.arrivals(since) if title in sent}
    latencies = [arrivals[t] - sent[t] for t in arrivals]
    last = max(arrivals.values(), default=t1)
    intake = (f"{len(sent):,} alerts accepted in {t1 - t0:.1f} s ({len(sent) / max(t1 - t0, 1e-9):,.0f}/s, "
              f"{args.per_post}/POST), POST p50 {pct(post_lat, .5) * 1000:.1f} ms p99 {pct(post_lat, .99) * 1000:.1f} ms,"
              f" {failed} refused")
    report(f"webhook in → webhook out ({args.alerts:,} alerts, rate {args.rate or 'unpaced'}/s)", len(sent),
           len(arrivals), latencies, t0, last, cpu, engine, intake, batch_figures(counters0, batch_counters(engine)))


def trap_scenario(args, engine: Engine, sink: SinkProcess, port: int) -> None:
    since, cpu0, counters0 = sink.count(), cpu_of(engine, sink), batch_counters(engine)
    t0 = time.time()
    times = send_traps(port, args.traps, args.rate)
    t1 = time.time()
    wait_for(sink, engine, len(times), since)
    cpu = _minus(cpu_of(engine, sink), cpu0)
    got = sorted(at for at, _ in sink.arrivals(since))
    latencies = [g - s for g, s in zip(got, times)]  # k-th sent → k-th delivered (traps carry no id we can read)
    intake = f"{len(times):,} traps sent in {t1 - t0:.1f} s ({len(times) / max(t1 - t0, 1e-9):,.0f}/s) over UDP"
    report(f"trap in → webhook out ({args.traps:,} traps)", len(times), len(got), latencies, t0,
           max(got, default=t1), cpu, engine, intake, batch_figures(counters0, batch_counters(engine)))


def drain_scenario(args, database: str, config: Path, sink: SinkProcess) -> None:
    """Delivery alone, one Notifier in this process (the sink is another), the engine
    stopped: (a) --outbox notifications already waiting, drained (the capacity); (b) then
    --paced notifications committed to the outbox at --rate in small transactions, the
    notifier woken by their NOTIFY as in serve: commit → sink latency (the notifier's share
    of POST → sink)."""
    import hashlib
    import uuid
    from datetime import datetime, timezone

    import psycopg

    from opsconductor.engine.config.loader import load_bundle
    from opsconductor.engine.gc_tuning import freeze_startup, tune_gc
    from opsconductor.engine.model import Alert, Severity
    from opsconductor.engine.notify.notifier import Notifier
    from opsconductor.engine.pipeline.effects import Notification
    from opsconductor.engine.store.direct import store_alerts
    from opsconductor.engine.store.outbox import add_pending

    bundle = load_bundle(config, environ={**os.environ, "BENCH_TOKEN": TOKEN, "BENCH_COMMUNITY": "public"})
    rule = next(r for r in bundle.rules if r.name == "everything")
    now = datetime.now(timezone.utc)

    def notifications(prefix: str, count: int) -> list[Notification]:
        alerts = [Alert(source_system="bench", source_alert_id=f"{prefix}{i}", severity=Severity.CRITICAL,
                        category="network", alert_type="bench_down", title=f"{prefix}-{i}", occurred_at=now,
                        received_at=now, fingerprint=hashlib.sha256(f"{prefix}{i}".encode()).hexdigest(),
                        device_ip=f"10.9.{i >> 8 & 255}.{i & 255}", id=str(uuid.uuid4()), connector="bench")
                  for i in range(count)]
        with psycopg.connect(database) as conn:
            store_alerts(conn, alerts)
        return [Notification(a, rule.name, "hook", "firing", now, rule.notify) for a in alerts]

    full = notifications("drain", args.outbox)
    paced = notifications("paced", args.paced) if args.paced and args.rate else []
    with psycopg.connect(database) as conn:
        add_pending(conn, full)
    since = sink.count()
    notifier = Notifier(lambda: psycopg.connect(database, autocommit=True), lambda: bundle, listen_url=database)
    tune_gc()  # as the notifier process does
    freeze_startup()
    cpu0, sink0, t0 = time.process_time(), sink.cpu(), time.time()
    notifier.start()
    wait_for(sink, None, len(full), since)
    got = sink.count() - since
    t1 = max((at for at, _ in sink.arrivals(since)), default=time.time())
    cpu, sink_cpu = time.process_time() - cpu0, sink.cpu() - sink0
    print(f"\ndelivery alone ({args.outbox:,} notifications waiting in the outbox, one Notifier)")
    print(f"  delivered    {got:,} in {t1 - t0:.1f} s: {got / max(t1 - t0, 1e-9):,.0f} notifications/s;"
          f" dropped {len(full) - got:,}")
    print(f"  CPU          ms per notification: notifier {cpu / max(got, 1) * 1000:.3f} (this process, the sink's"
          f" polling included), sink {sink_cpu / max(got, 1) * 1000:.3f}")
    if paced:
        since = sink.count()
        committed: dict[str, float] = {}
        step = 0.01  # a commit every 10 ms, as the pipeline's batches at this rate
        cpu0, sink0, t0 = time.process_time(), sink.cpu(), time.time()
        with psycopg.connect(database) as conn:
            done = 0
            while done < len(paced):
                due = min(len(paced), int((time.time() - t0) * args.rate) + 1)
                if due > done:
                    add_pending(conn, paced[done:due])
                    at = time.time()
                    for n in paced[done:due]:
                        committed[n.alert.title] = at
                    done = due
                    if not notifier.listening:  # as the notifier process heeds the engine's wakes
                        notifier.wake()
                time.sleep(step)
        wait_for(sink, None, len(paced), since)
        cpu, sink_cpu = time.process_time() - cpu0, sink.cpu() - sink0
        arrivals = sink.arrivals(since)
        latencies = [at - committed[title] for at, title in arrivals if title in committed]
        t1 = max((at for at, _ in arrivals), default=time.time())
        print(f"\ndelivery alone, paced ({len(paced):,} notifications committed at {args.rate:,.0f}/s, a commit every"
              f" {step * 1000:.0f} ms, woken by {'NOTIFY' if notifier.listening else 'wake()'})")
        print(f"  delivered    {len(latencies):,} in {t1 - t0:.1f} s; dropped {len(paced) - len(latencies):,}")
        print(f"  latency      commit → sink p50 {pct(latencies, .5) * 1000:,.1f} ms  p90 {pct(latencies, .9) * 1000:,.1f}"
              f" ms  p99 {pct(latencies, .99) * 1000:,.1f} ms  max {max(latencies, default=0) * 1000:,.1f} ms")
        print(f"  CPU          ms per notification: notifier {cpu / max(len(latencies), 1) * 1000:.3f} (this process,"
              f" the committing included), sink {sink_cpu / max(len(latencies), 1) * 1000:.3f}")
    notifier.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--per-post", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1_000, help="webhook alerts sent first and not measured")
    parser.add_argument("--rate", type=float, default=1_000.0, help="alerts (traps) per second; 0 = unpaced")
    parser.add_argument("--traps", type=int, default=5_000)
    parser.add_argument("--outbox", type=int, default=10_000, help="then: delivery alone, from a full outbox")
    parser.add_argument("--paced", type=int, default=10_000,
                        help="then: delivery alone, notifications committed to the outbox at --rate")
    args = parser.parse_args()
    sink = SinkProcess(free_port())
    trap_port, port = free_port(socket.SOCK_DGRAM), free_port()
    with tempfile.TemporaryDirectory(prefix="opsc-bench-notify-") as tmp, server_url() as server, \
            scratch_database(server) as database:
        tree(Path(tmp), f"http://127.0.0.1:{sink.port}", trap_port)
        engine = Engine(Path(tmp), database, port)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if engine.proc.poll() is not None:
                    raise SystemExit(f"opsc serve exited with {engine.proc.returncode}")
                try:
                    import urllib.request
                    urllib.request.urlopen(f"{engine.url}/healthz", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.2)
            print(f"opsc serve pid {engine.proc.pid} on {engine.url}; sink on 127.0.0.1:{sink.port}")
            if args.alerts:
                asyncio.run(webhook_scenario(args, engine, sink))
            if args.traps:
                trap_scenario(args, engine, sink, trap_port)
        finally:
            engine.stop()
        try:
            if args.outbox or args.paced:
                drain_scenario(args, database, Path(tmp), sink)
        finally:
            sink.stop()


if __name__ == "__main__":
    main()
