"""The fault suite: each fault for real, on loopback, with bounded loops; prints figures.

    .venv/bin/python bench/faults.py [--events 10000] [--outage 60] [--rate 500] [--only kill9,outage,flap]

Runs a separate embedded PostgreSQL of its own (engine/store/embedded.py, in a temporary
directory; never the shared server) and real `opsc serve` processes on the default tree:

- kill9: a burst of --events events, half webhooks (POST /api/v1/events/monitoring, 10
  events a request, 4 senders) and half SNMPv2c informs (windows of 50); `opsc serve` is
  killed with SIGKILL when half are acknowledged, then started again on the same data
  dir. lost = acknowledged (202 / inform response) but not stored; duplicates = an event
  stored twice, or an alert with more than one event in it.
- outage: webhooks at --rate events/s for --outage seconds while that PostgreSQL is
  stopped, then started: every 202 stored once once it is back.
- flap: one webhook request with 20 links going problem → clear → problem amid 20 other
  devices' problems (one batch): 60 alerts expected.

Goals: 0 lost, 0 duplicates, 0 crashes. bench/faults_traps.py (fuzzed datagrams) and
bench/faults_config.py (fuzzed config trees) are run too when present, so this one
command runs the whole suite. tests/test_faults.py runs short versions of these
scenarios in `make test`, asserting counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "fault-suite-token"
COMMUNITY = "public"
IFX = "1.3.6.1.2.1.2.2.1"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
WEBHOOK_BATCH = 10
INFORM_WINDOW = 50


# ---- one `opsc serve` ---------------------------------------------------------------------------

def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Serve:
    """`opsc serve` on a copy of the default tree, with its own data dir (the journal)."""

    workdir: Path
    db_url: str
    trap_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    http_port: int = field(default_factory=lambda: free_port(socket.SOCK_STREAM))
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def tree(self) -> Path:
        tree = self.workdir / "tree"
        if not tree.exists():
            for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
                shutil.copytree(ROOT / folder, tree / folder)
            traps = tree / "connectors.d" / "snmp-traps.yaml"
            traps.write_text(traps.read_text().replace("0.0.0.0:1162", f"127.0.0.1:{self.trap_port}"))
        return tree

    def start(self, timeout: float = 90.0) -> None:
        env = {**os.environ, "OPSC_DATA_DIR": str(self.workdir / "data"), "MONITORING_WEBHOOK_TOKEN": TOKEN,
               "OPSC_SNMP_COMMUNITY": COMMUNITY, "OPSC_ADMIN_TOKEN": "fault-suite-admin"}
        env.pop("OPSC_DATABASE_URL", None)
        self.starts += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"serve-{self.starts}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "opsconductor.engine.cli", "serve", "--config", str(self.tree()),
             "--database-url", self.db_url, "--no-watch", "--skip-rule-tests", "--port", str(self.http_port)],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"opsc serve did not come up:\n{self.log()}")

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("serve-*.log")))

    def kill(self) -> None:
        """SIGKILL, as the fault; its writer child ends once it sees its parent gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def settled(self, timeout: float = 120.0) -> bool:
        """Everything accepted is committed: the journal holds nothing and the queue is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                engine = httpx.get(f"{self.base}/healthz", timeout=5).json().get("engine", {})
                if engine.get("queue_depth") == 0 and engine.get("intake", {}).get("journal_events") == 0:
                    return True
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        return False


# ---- senders ---------------------------------------------------------------------------------------

def webhook_item(seq: int, state: str = "down", check: str = "fault_check") -> dict:
    return {"host": f"10.{200 + seq // 62500}.{seq // 250 % 250}.{seq % 250 + 1}", "name": f"fault-{seq}",
            "check": check, "severity": "minor", "category": "network", "title": f"fault {seq}", "state": state,
            "seq": seq}


@dataclass
class Tally:
    acked: set = field(default_factory=set)  # acknowledged: 202 / inform answered
    doubt: set = field(default_factory=set)  # sent, no answer (the engine died meanwhile)
    refused: int = 0  # 503 answers
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_webhooks(base: str, seqs: list[int], tally: Tally, stop: threading.Event, rate: float = 0.0) -> None:
    """POST the events WEBHOOK_BATCH at a time; bounded by len(seqs). rate: events/s (0 = unpaced)."""
    started = time.monotonic()
    with httpx.Client(timeout=30) as client:
        for i in range(0, len(seqs), WEBHOOK_BATCH):
            if stop.is_set():
                return
            if rate:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            chunk = seqs[i:i + WEBHOOK_BATCH]
            try:
                r = client.post(f"{base}/api/v1/events/monitoring", json=[webhook_item(s) for s in chunk],
                                headers={"Authorization": f"Bearer {TOKEN}"})
            except httpx.HTTPError:
                with tally.lock:
                    tally.doubt.update(chunk)
                return
            with tally.lock:
                if r.status_code == 202:
                    tally.acked.update(chunk)
                elif r.status_code == 503:
                    tally.refused += len(chunk)
                else:
                    tally.doubt.update(chunk)


def inform_packet(seq: int) -> bytes:
    from pyasn1.codec.ber import encoder
    from pysnmp.proto.api import v2c

    pdu = v2c.InformRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, seq)
    v2c.apiPDU.set_varbinds(pdu, [
        ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(1)), ("1.3.6.1.6.3.1.1.4.1.0", v2c.ObjectIdentifier(LINK_DOWN)),
        (f"{IFX}.1.{seq}", v2c.Integer(seq))])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, COMMUNITY)
    v2c.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


def send_informs(port: int, seqs: list[int], tally: Tally, stop: threading.Event) -> None:
    """Windows of INFORM_WINDOW informs; an inform is acknowledged when its response comes."""
    from opsconductor.engine.connectors.snmp.ber import decode_message

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        for i in range(0, len(seqs), INFORM_WINDOW):
            window = set(seqs[i:i + INFORM_WINDOW])
            for seq in window:
                s.sendto(inform_packet(seq), ("127.0.0.1", port))
            deadline = time.monotonic() + 3.0
            while window and time.monotonic() < deadline:
                try:
                    data, _ = s.recvfrom(65536)
                except (TimeoutError, OSError):
                    continue
                seq = decode_message(data).request_id
                if seq in window:
                    window.discard(seq)
                    with tally.lock:
                        tally.acked.add(seq)
            with tally.lock:
                tally.doubt.update(window)
            if stop.is_set() or window:  # no answer: the engine is gone
                return


# ---- what was stored -------------------------------------------------------------------------------

def stored(db_url: str) -> dict[str, dict[int, int]]:
    """Per source, per seq: how many raw events were stored."""
    with psycopg.connect(db_url) as conn:
        hooks = conn.execute("SELECT (payload->'item'->>'seq')::int, count(*) FROM raw_events"
                             " WHERE connector = 'monitoring' AND payload->'item' ? 'seq' GROUP BY 1").fetchall()
        traps = conn.execute("SELECT (payload->'varbinds'->0->>'value')::int, count(*) FROM raw_events"
                             " WHERE connector = 'snmp-traps' GROUP BY 1").fetchall()
    return {"webhook": dict(hooks), "trap": dict(traps)}


def duplicate_alerts(db_url: str) -> int:
    """Alerts beyond one per event (fault_check devices and trap ifIndexes), and alerts
    counting an event twice."""
    with psycopg.connect(db_url) as conn:
        extra = conn.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM alerts WHERE alert_type = 'fault_check'"
            " OR (alert_type = 'link_down' AND device_ip = '127.0.0.1') GROUP BY fingerprint) f").fetchone()[0]
        twice = conn.execute("SELECT count(*) FROM alerts WHERE (alert_type = 'fault_check' OR (alert_type ="
                             " 'link_down' AND device_ip = '127.0.0.1')) AND occurrence_count > 1").fetchone()[0]
    return int(extra) + int(twice)


def figures(name: str, tallies: dict[str, Tally], db_url: str) -> dict:
    rows = stored(db_url)
    out: dict = {"scenario": name}
    for source, tally in tallies.items():
        got = rows[source]
        out[source] = {"acknowledged": len(tally.acked), "lost": len([s for s in tally.acked if s not in got]),
                       "in_doubt": len(tally.doubt), "in_doubt_stored": len([s for s in tally.doubt if s in got]),
                       "refused_503": tally.refused, "stored_twice": len([s for s, n in got.items() if n > 1])}
    out["duplicate_alerts"] = duplicate_alerts(db_url)
    return out


# ---- scenarios -------------------------------------------------------------------------------------

def kill9(workdir: Path, db_url: str, events: int, senders: int = 4) -> dict:
    """Kill -9 `opsc serve` when half of a burst is acknowledged; start it again; count."""
    serve = Serve(workdir, db_url)
    serve.start()
    hooks, traps = list(range(events // 2)), list(range(events - events // 2))
    tallies = {"webhook": Tally(), "trap": Tally()}
    stop = threading.Event()
    threads = [threading.Thread(target=send_webhooks, args=(serve.base, hooks[k::senders], tallies["webhook"], stop))
               for k in range(senders)]
    threads.append(threading.Thread(target=send_informs, args=(serve.trap_port, traps, tallies["trap"], stop)))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and sum(len(t.acked) for t in tallies.values()) < events // 2:
        time.sleep(0.005)
    serve.kill()
    killed_at = sum(len(t.acked) for t in tallies.values())
    stop.set()
    for t in threads:
        t.join(60)
    serve.start()
    settled = serve.settled()
    code = serve.stop()
    out = figures("kill9", tallies, db_url)
    out.update(acknowledged_at_kill=killed_at, settled=settled, clean_exit=code == 0, replay=_replayed(serve))
    return out


def _replayed(serve: Serve) -> str:
    lines = [line for line in (serve.workdir / f"serve-{serve.starts}.log").read_text(errors="replace").splitlines()
             if "intake journal:" in line]
    return lines[-1].split("intake journal:", 1)[1].strip() if lines else "nothing to replay"


def outage(workdir: Path, server, db_url: str, seconds: float, rate: float) -> dict:
    """Webhooks at `rate` events/s for `seconds` with PostgreSQL stopped, then started."""
    serve = Serve(workdir, db_url)
    serve.start()
    tally = Tally()
    stop = threading.Event()
    seqs = list(range(int(seconds * rate)))
    server.stop()  # the outage: the engine's own server is this one
    health: list = []
    sender = threading.Thread(target=send_webhooks, args=(serve.base, seqs, tally, stop, rate))
    sender.start()
    sender.join(seconds * 3 + 60)
    try:
        health.append(httpx.get(f"{serve.base}/healthz", timeout=5).json())
    except httpx.HTTPError as exc:
        health.append({"error": str(exc)})
    server.start()
    settled = serve.settled(timeout=max(120.0, seconds * 2))
    code = serve.stop()
    out = figures("outage", {"webhook": tally}, db_url)
    out.update(settled=settled, clean_exit=code == 0, healthz_during=health[0].get("reasons", health[0]))
    return out


def flap(workdir: Path, db_url: str, devices: int = 20) -> dict:
    """problem → clear → problem of `devices` links amid as many other problems, one request."""
    serve = Serve(workdir, db_url)
    serve.start()
    items = []
    for i in range(devices):
        seq = 900_000 + i
        items += [webhook_item(seq, "down", "flap_check"), webhook_item(seq, "ok", "flap_check"),
                  webhook_item(seq, "down", "flap_check"), webhook_item(910_000 + i, "down", "flap_check")]
    r = httpx.post(f"{serve.base}/api/v1/events/monitoring", json=items, headers={"Authorization": f"Bearer {TOKEN}"},
                   timeout=30)
    settled = serve.settled()
    code = serve.stop()
    with psycopg.connect(db_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM alerts WHERE alert_type = 'flap_check'").fetchone()
        (open_,) = conn.execute("SELECT count(*) FROM alerts WHERE alert_type = 'flap_check'"
                                " AND status <> 'resolved'").fetchone()
    return {"scenario": "flap", "status": r.status_code, "alerts": count, "expected": devices * 3,
            "open": open_, "expected_open": devices * 2, "settled": settled, "clean_exit": code == 0}


def create_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def run_others(args) -> int:
    """The other fault scripts of the suite, when present (they print their own figures)."""
    worst = 0
    for script, extra in (("faults_traps.py", []), ("faults_config.py", [])):
        path = Path(__file__).with_name(script)
        if path.exists() and (not args.only or script[7:-3] in args.only):
            print(f"\n== {script}", flush=True)
            worst = max(worst, subprocess.run([sys.executable, str(path), *extra], timeout=3600).returncode)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds PostgreSQL is down")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s sent during the outage")
    parser.add_argument("--only", type=lambda s: set(s.split(",")), default=set(),
                        help="kill9,outage,flap,traps,config (default: all)")
    args = parser.parse_args()
    if not (0 < args.events <= 100_000 and 0 < args.outage <= 600 and 0 < args.rate <= 5_000):
        parser.error("bounded: --events ≤ 100000, --outage ≤ 600, --rate ≤ 5000")
    from opsconductor.engine.store.embedded import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="opsc-faults-"))
    server = EmbeddedPostgres(work / "pg")
    results = []
    try:
        url = server.start()
        print(f"embedded PostgreSQL for the suite: {work / 'pg'}; work dir {work}; machine shared, figures noisy",
              flush=True)
        for name in ("kill9", "outage", "flap"):
            if args.only and name not in args.only:
                continue
            db = create_database(url, f"faults_{name}")
            started = time.monotonic()
            if name == "kill9":
                result = kill9(work / name, db, args.events)
            elif name == "outage":
                result = outage(work / name, server, db, args.outage, args.rate)
            else:
                result = flap(work / name, db)
            result["seconds"] = round(time.monotonic() - started, 1)
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        server.stop()
    bad = [r for r in results if any(v.get("lost") or v.get("stored_twice") for v in r.values() if isinstance(v, dict))
           or r.get("duplicate_alerts") or not r.get("clean_exit", True) or not r.get("settled", True)
           or (r["scenario"] == "flap" and (r["alerts"], r["open"]) != (r["expected"], r["expected_open"]))]
    print(f"\n{len(results)} scenario(s), {len(bad)} with a loss, a duplicate or a crash; work dir {work}")
    if not bad:
        shutil.rmtree(work, ignore_errors=True)
    return max(1 if bad else 0, run_others(args))


if __name__ == "__main__":
    sys.exit(main())
