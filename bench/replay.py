"""`opsc replay` on a week of a busy site: events/s through both trees and peak RSS.

A synthetic history file (the format `opsc history export` writes) of N events over 7
days — link flaps that clear, repeats, cameras behind a switch that goes down and comes
back, cold starts — is replayed through the default tree and a candidate that moves the
NOC e-mails to the log channel, exactly as `opsc replay --history FILE` does (one process
per tree).

    .venv/bin/python bench/replay.py [--events 1000000]
"""
from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from opsconductor.engine.connectors.snmp.trapwire import trap_payload
from opsconductor.engine.model import RawEvent
from opsconductor.engine.replay.history_file import write_history
from opsconductor.engine.replay.run import HistorySource, replay

ROOT = Path(__file__).resolve().parents[1]
LINK_DOWN, LINK_UP, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
START = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # a Monday


def trap(n: int, at: datetime, oid: str, device: str, if_index: int = 1) -> RawEvent:
    return RawEvent(f"r{n}", "snmp-traps", "snmp_trap", at, device,
                    trap_payload(oid, [(f"{IF_INDEX}.{if_index}", if_index)], uptime=n))


def monitor(n: int, at: datetime, host: str, down: bool) -> RawEvent:
    fields = {"device_ip": host, "alert_type": "device_unreachable", "severity": "major", "category": "network",
              "title": "Device Unreachable", **({} if down else {"clear": True})}
    return RawEvent(f"r{n}", "monitoring", "webhook", at, None, {"format": "generic", "fields": fields, "item": {}})


def week(count: int, rng: random.Random):
    step = timedelta(days=7) / count
    open_ifs: list[tuple[str, int]] = []
    switch_down = False
    for n in range(count):
        at = START + step * n
        roll = rng.random()
        if n % 5000 == 0:  # the site's switch fails and recovers now and then
            switch_down = not switch_down
            yield monitor(n, at, "10.20.0.2", switch_down)
        elif roll < 0.6 and open_ifs:
            dev, idx = rng.choice(open_ifs)
            yield trap(n, at, LINK_DOWN, dev, idx)
        elif roll < 0.75 and open_ifs:
            dev, idx = open_ifs.pop(rng.randrange(len(open_ifs)))
            yield trap(n, at, LINK_UP, dev, idx)
        elif roll < 0.85:
            yield trap(n, at, COLD_START, f"10.20.1.{rng.randint(20, 250)}")
        else:
            dev, idx = f"10.{100 + rng.randint(0, 40)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.randint(1, 48)
            open_ifs.append((dev, idx))
            yield trap(n, at, LINK_DOWN, dev, idx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opsc-bench-replay-") as work:
        history = Path(work) / "week.jsonl.gz"
        started = time.monotonic()
        write_history(history, week(args.events, random.Random(7)), since=START, until=START + timedelta(days=7))
        print(f"history: {args.events:,} events over 7 days written in {time.monotonic() - started:.1f}s "
              f"({history.stat().st_size / 1e6:.1f} MB)")
        candidate = Path(work) / "candidate"
        for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
            shutil.copytree(ROOT / folder, candidate / folder)
        rules = candidate / "rules" / "notifications.yaml"
        rules.write_text(rules.read_text().replace("      channels: [noc-email]\n", "      channels: [audit-log]\n"))
        started = time.monotonic()
        result = replay(candidate, ROOT, HistorySource(file=history))
        elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    diff = result.diff
    print(f"replay: {args.events:,} events through both trees in {elapsed:.1f}s = {args.events / elapsed:,.0f} events/s "
          f"(each tree in its own process)")
    print(f"peak RSS of a replay process: {peak:.0f} MiB")
    print(f"alerts created: {diff.baseline['counts'].get('created', 0):,}; alerts whose decisions changed: "
          f"{diff.changed_total:,}; notifications moved: "
          f"{ {k: v for k, v in diff.moved['notifications'].items()} }")


if __name__ == "__main__":
    sys.exit(main())
