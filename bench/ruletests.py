"""How long `opsc test` takes on the default tree: the whole command (process start, imports,
loading the tree, the tests), and the tests alone, per kind of step. Prints figures; asserts
nothing (a shared machine makes them noisy: take the best of a few runs)."""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.ruletest import run_tests

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    command = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "test", "--config", str(ROOT)],
                       check=True, capture_output=True, timeout=300)
        command.append(time.perf_counter() - started)
    started = time.perf_counter()
    bundle = load_bundle(ROOT)
    loading = time.perf_counter() - started
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        results = run_tests(bundle)
        runs.append(time.perf_counter() - started)
    assert all(r.passed for r in results), [r.format() for r in results if not r.passed]
    steps = sum(len(t.events) for t in bundle.tests)
    print(f"opsc test, whole command: best {min(command):.2f} s, median {statistics.median(command):.2f} s")
    print(f"loading the tree (in process): {loading:.2f} s")
    print(f"{len(results)} tests, {steps} steps: best {min(runs) * 1000:.0f} ms, median {statistics.median(runs) * 1000:.0f} ms"
          f" ({min(runs) / len(results) * 1000:.1f} ms per test)")


if __name__ == "__main__":
    main()
