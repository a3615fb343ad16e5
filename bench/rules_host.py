"""Measure engine/rules/host.py on the real durable_rules: speed, memory, limits.

    .venv/bin/python bench/rules_host.py            # match/s, create time, RSS cycles
    .venv/bin/python bench/rules_host.py --limits   # + hang/limit probes in subprocesses

Every probe that can hang runs in a child process with a timeout.
"""
from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time

import psutil

from opsconductor.engine.rules.host import RulesHost

KINDS = ["link_down", "link_up", "power", "temp", "bgp", "ping"]
SITES = [f"site-{i}" for i in range(20)]


def realistic_rules(n: int, seed: int = 1) -> dict:
    """A mix of what the YAML compiler emits: equality, any-of, rank, regex, tag."""
    rnd = random.Random(seed)
    rules = {}
    for i in range(n):
        tests = [{"kind": rnd.choice(KINDS)}]
        shape = i % 4
        if shape == 0:
            tests.append({"$or": [{"site": s} for s in rnd.sample(SITES, 3)]})
        elif shape == 1:
            tests.append({"$gte": {"severity_rank": rnd.randint(1, 5)}})
        elif shape == 2:
            tests.append({"$mt": {"host": f"{rnd.choice(['sw', 'rtr', 'ups'])}{rnd.randint(1, 99)}.*"}})
        else:
            tests.append({"$iany": {"tags": {"$i": rnd.choice(["core", "edge", "lab", "vip"])}}})
        rules[f"rule-{i}"] = {"all": [{"m": {"$and": tests}}]}
    return rules


def events(count: int, seed: int = 2) -> list[dict]:
    rnd = random.Random(seed)
    return [{"kind": rnd.choice(KINDS), "site": rnd.choice(SITES), "severity_rank": rnd.randint(0, 5),
             "host": f"{rnd.choice(['sw', 'rtr', 'ups'])}{rnd.randint(1, 99)}-{rnd.choice(SITES)}",
             "tags": rnd.sample(["core", "edge", "lab", "vip", "x"], 2)} for _ in range(count)]


def bench_match() -> None:
    evs = events(2000)
    for n in (10, 100, 1000):
        host = RulesHost()
        host.load("g", {"rs": realistic_rules(n)})
        hits = 0
        start = time.perf_counter()
        for ev in evs:
            hits += len(host.match("g", "rs", ev))
        elapsed = time.perf_counter() - start
        print(f"match  {n:5d} rules: {len(evs) / elapsed:9.0f} match/s  "
              f"({elapsed / len(evs) * 1e6:6.1f} us/event, {hits / len(evs):.1f} rules matched/event)")
        host.delete("g")


def bench_create() -> None:
    for n in (10, 100, 500):
        rules = realistic_rules(n)
        host = RulesHost()
        start = time.perf_counter()
        host.load("g", {"rs": rules})
        print(f"create {n:5d} rules: {(time.perf_counter() - start) * 1000:7.1f} ms")
        host.delete("g")


def bench_memory(cycles: int = 200, rules: int = 200) -> None:
    proc = psutil.Process()
    host = RulesHost()
    definition = {"rs": realistic_rules(rules)}
    ev = events(1)[0]
    before = proc.memory_info().rss
    for i in range(1, cycles + 1):
        host.load(f"g{i}", definition)
        host.match(f"g{i}", "rs", ev)
        host.delete(f"g{i}")
        if i in (1, 10, 50, 100, 150, 200):
            rss = proc.memory_info().rss
            print(f"rss after {i:3d} load/match/delete cycles of {rules} rules: "
                  f"{rss / 2**20:7.1f} MiB (+{(rss - before) / 2**20:.1f})")
    print(f"threads: {[t.name for t in threading.enumerate()]}")


PROBE = """
import sys, time
from opsconductor.engine.rules.host import RulesHost, Limits
n, shape = int(sys.argv[1]), sys.argv[2]
cond = {
    "shared": lambda i: {"$and": [{"kind": "x"}, {"n": i}]},
    "distinct": lambda i: {"n": i},
    "or2": lambda i: {"$or": [{"n": i}, {"n": i + 100000}]},
    "same": lambda i: {"kind": "x"},
}[shape]
unsafe = RulesHost(Limits(max_terms_per_shard=10**6, max_terms_per_rule=10**6))
start = time.perf_counter()
unsafe.load("g", {"rs": {f"r{i}": {"all": [{"m": cond(i)}]} for i in range(n)}})
print(f"{(time.perf_counter() - start) * 1000:.1f} ms")
"""


def probe_limits(timeout: float = 5.0) -> None:
    """One ruleset without our sharding, in a child process; 'HANG' means killed at timeout.

    The host adds one init rule per shard, so N rules here put N + 1 children on the
    root node. 513 children hang create_ruleset; with 512 it returns, but asserting a
    fact none of them matches (the init fact) spins or corrupts the heap.
    """
    for shape, sizes in (("shared", (256, 511, 512)), ("distinct", (511, 512)),
                         ("or2", (255, 256)), ("same", (256, 257))):
        for n in sizes:
            try:
                out = subprocess.run([sys.executable, "-c", PROBE, str(n), shape],
                                     capture_output=True, text=True, timeout=timeout)
                result = out.stdout.strip() or out.stderr.strip().splitlines()[-1]
            except subprocess.TimeoutExpired:
                result = f"HANG (killed after {timeout:.0f} s)"
            print(f"unsharded {shape:8} {n:4d} rules: {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", action="store_true", help="also run the hang probes")
    args = parser.parse_args()
    bench_match()
    bench_create()
    bench_memory()
    if args.limits:
        probe_limits()


if __name__ == "__main__":
    main()
