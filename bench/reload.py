"""Time from saving a file to the new config version serving, and RSS over many reloads.

Trees of N rules + N OID maps + N dependency edges (N = 10, 1,000, 10,000). For each:
  - reload: LiveConfig.request() on a changed tree (load, validate, rule tests, compile,
    record + projection in PostgreSQL, swap);
  - save→serving: a file is written while the watcher runs; the clock stops when the new
    pipeline is in place (includes the file watcher: it batches saves for up to 300 ms).
Then RSS over 200 reloads of the 1,000 tree (memory must stay flat), each reload a new
variant of the rules file with every rule renamed, and the reload's time for that edit and
for the usual one: one rule of the 1,000 changed (a different rule each time, the earlier
edits kept: each reload differs from the running version in one rule). Each reload's time is printed as CPU time
of this process (time.process_time: the database's share is not in it) and wall clock; on
a machine shared with other work, compare CPU times. The garbage collector is set as
`opsc serve` sets it (gc_tuning.tune_gc).

    .venv/bin/python bench/reload.py [--sizes 10,1000,10000] [--reloads 200]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

from opsconductor.engine.gc_tuning import tune_gc
from opsconductor.engine.pipeline.state import ActiveAlerts
from opsconductor.engine.reload import LiveConfig
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.store.migrate import apply_migrations
from opsconductor.engine.watch import watch_config

sys.path.insert(0, str(Path(__file__).parent))
from benchdb import scratch_database, server_url  # noqa: E402

CATEGORIES = ("network", "power", "video", "wireless")


def write_tree(root: Path, n: int, variant: int = 0, edited: int = 0) -> None:
    """The tree; `variant` renames every rule; rules 1..`edited` each carry an edit (name and
    severity), so the tree with edited=k differs from the one with k-1 in one rule."""
    (root / "connectors.d").mkdir(parents=True, exist_ok=True)
    (root / "connectors.d" / "traps.yaml").write_text(
        "name: traps\ntype: snmp_trap\nenabled: false\nlisten: ['127.0.0.1:1162']\ncommunities: ['${env:C:-public}']\n")
    maps = ["mappings:"]
    for i in range(n):
        maps += [f"  - oid: 1.3.6.1.4.1.{50000 + i // 1000}.{i % 1000}.0.1", f"    alert_type: type_{i}",
                 f"    category: {CATEGORIES[i % 4]}", "    severity: major", f'    title: "Alarm {i} - {{{{ device_name }}}}"']
    (root / "oidmaps").mkdir(exist_ok=True)
    (root / "oidmaps" / "generated.yaml").write_text("\n".join(maps) + "\n")
    deps = ["dependencies:"]
    for i in range(n):  # a forest of chains: 10.x.y.z depends on the next address
        a, b = i + 1, i + 2
        deps.append(f"  - {{device: 10.{a // 65536 % 256}.{a // 256 % 256}.{a % 256}, "
                    f"depends_on: 10.{b // 65536 % 256}.{b // 256 % 256}.{b % 256}}}" if i % 50 != 49 else
                    f"  - {{device: 10.{a // 65536 % 256}.{a // 256 % 256}.{a % 256}, depends_on: 192.0.2.1}}")
    (root / "dependencies.d").mkdir(exist_ok=True)
    (root / "dependencies.d" / "generated.yaml").write_text("\n".join(deps) + "\n")
    rules = ["channels:", "  - {name: noc, type: log}", "rules:"]
    for i in range(n):
        name, severity = f"rule-{i}-v{variant}", "minor"
        if 1 <= i <= edited:
            name, severity = f"{name}-e", "major"
        rules += [f"  - name: {name}", f"    match: {{alert_type: type_{i}, severity: {{gte: {severity}}}}}",
                  "    notify: {channels: [noc]}"]
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "generated.yaml").write_text("\n".join(rules) + "\n")


async def save_to_serving(root: Path, live: LiveConfig, n: int) -> float:
    stop = asyncio.Event()
    task = asyncio.create_task(watch_config(root, live, stop))
    await asyncio.sleep(0.5)
    before = live._pipeline
    started = time.perf_counter()
    write_tree(root, n, variant=99)
    while live._pipeline is before and time.perf_counter() - started < 120:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.wait_for(task, 10)
    return elapsed


def timed(live: LiveConfig, trigger: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one reload that must apply."""
    cpu, wall = time.process_time(), time.perf_counter()
    outcome = live.request(trigger)
    assert outcome.outcome == "applied", outcome.errors[:3]
    return time.process_time() - cpu, time.perf_counter() - wall


def summary(times: list[tuple[float, float]]) -> str:
    cpu, wall = sorted(c for c, _ in times), sorted(w for _, w in times)

    def at(values: list[float], q: float) -> str:
        return f"{values[min(int(len(values) * q), len(values) - 1)] * 1000:.0f}"

    return (f"CPU p50 {at(cpu, 0.5)} ms, p90 {at(cpu, 0.9)} ms; wall p50 {at(wall, 0.5)} ms, "
            f"p90 {at(wall, 0.9)} ms ({len(times)} reloads)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--reloads", type=int, default=200)
    args = parser.parse_args()
    tune_gc()  # as `opsc serve` runs (at Python's default, a full collection every ~6 reloads adds ~25-40 ms)
    proc = psutil.Process(os.getpid())
    with server_url() as base:
        for n in (int(x) for x in args.sizes.split(",")):
            with scratch_database(base) as url, tempfile.TemporaryDirectory() as tmp:
                apply_migrations(url)
                root = Path(tmp)
                write_tree(root, n)
                live = LiveConfig(root, RulesHost(), ActiveAlerts(), lambda: psycopg.connect(url))
                t = time.perf_counter()
                assert live.request("start").outcome == "applied", live.last.errors[:3]
                first = time.perf_counter() - t
                write_tree(root, n, variant=1)
                t = time.perf_counter()
                outcome = live.request("bench")
                again = time.perf_counter() - t
                assert outcome.outcome == "applied", outcome.errors[:3]
                saved = asyncio.run(save_to_serving(root, live, n))
                print(f"N={n:>6}: first load {first * 1000:8.0f} ms   reload {again * 1000:8.0f} ms   "
                      f"save→serving {saved * 1000:8.0f} ms (watcher included)")
                if n == 1000 and args.reloads:
                    # A new variant each time (an edit), as an engineer's edits are: a cache keyed by
                    # content would otherwise hide a leak behind two alternating versions.
                    samples, times = [], []
                    for i in range(1, args.reloads + 1):
                        write_tree(root, n, variant=1000 + i)
                        times.append(timed(live, f"r{i}"))
                        if i in (1, 50, 100, 200) or i == args.reloads:
                            samples.append((i, proc.memory_info().rss / 2**20))
                    print("   RSS after reloads: " + ", ".join(f"#{i}: {mb:.0f} MiB" for i, mb in samples)
                          + f"; live generations {len(live.host.generations())}")
                    print(f"   reload, every rule renamed: {summary(times)}")
                    edits = []
                    for i in range(1, max(args.reloads // 4, 1) + 1):
                        write_tree(root, n, variant=1000 + args.reloads, edited=i)
                        edits.append(timed(live, f"e{i}"))
                    print(f"   reload, one rule edited:    {summary(edits)}")
                    t = time.perf_counter()
                    outcome = live.request("unchanged")
                    print(f"   unchanged tree: {outcome.outcome} in {(time.perf_counter() - t) * 1000:.0f} ms")
                live.pipeline.close()


if __name__ == "__main__":
    main()
