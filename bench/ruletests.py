"""How long `opsc test` takes on the default tree: the whole command as a user runs it, split into
its phases (interpreter start, imports, loading the tree, the tests, which load the connector
code their steps use), and the tests alone in a warm process. Prints figures; asserts nothing.

CPU time (user+sys) is the figure to compare: the machine is shared, so wall clock says more
about the neighbours than about us. Best of --runs, and the median.

Subprocesses run with bytecode caching on (PYTHONDONTWRITEBYTECODE unset) after one warm-up run,
as a user's second `opsc test` does; with it off every run compiles our ~300 modules again
(about +0.1 s)."""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.ruletest import run_tests

ROOT = Path(__file__).resolve().parents[1]
OPSC = shutil.which("opsc", path=str(Path(sys.executable).parent)) or "opsc"

# The command's phases, timed inside one process: what cmd_test imports, then what it does.
PHASES = """
import json, sys, time
started = time.process_time()  # the interpreter's start and site, before our first import
from opsconductor.engine import cli
from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.ruletest import run_tests
from opsconductor.engine.ruletest.report import render
imported = time.process_time()
result = load_tree(sys.argv[1])
loaded = time.process_time()
results = run_tests(result.bundle)
render(results, "text")
ran = time.process_time()
print(json.dumps({"start": started, "imports": imported - started, "load": loaded - imported, "tests": ran - loaded,
                  "modules": len(sys.modules), "failed": sum(not r.passed for r in results)}))
"""


# httpx imports its own command-line client (click, rich, pygments) when those are installed: in
# this dev venv they are (schemathesis, the test extra); an install without the test extra
# lacks rich and pygments, and httpx skips it. Timed apart so the figures above can be read
# for both.
HTTPX = """
import sys, time
if sys.argv[1] == "without":
    sys.modules["httpx._main"] = None  # what a missing rich does: httpx falls back to a stub
started = time.process_time()
import httpx
print(time.process_time() - started)
"""


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def whole_command(runs: int, env: dict) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(runs):
        cpu, started = child_cpu(), time.perf_counter()
        subprocess.run([OPSC, "test", "--config", str(ROOT)], check=True, capture_output=True, timeout=300, env=env)
        walls.append(time.perf_counter() - started)
        cpus.append(child_cpu() - cpu)
    return walls, cpus


def phases(runs: int, env: dict) -> list[dict]:
    out = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", PHASES, str(ROOT)], check=True, capture_output=True, text=True,
                              timeout=300, env=env)
        out.append(json.loads(proc.stdout))
    assert all(p["failed"] == 0 for p in out), out
    return out


def ms(values: list[float]) -> str:
    return f"best {min(values) * 1000:4.0f} ms, median {statistics.median(values) * 1000:4.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    whole_command(1, env)  # warm-up: writes the bytecode caches
    walls, cpus = whole_command(args.runs, env)
    split = phases(args.runs, env)
    print(f"opsc test, whole command (CPU user+sys): {ms(cpus)}   (wall: {ms(walls)})")
    for phase, label in (("start", "interpreter start"), ("imports", "imports (cli, loader, runner)"),
                         ("load", "loading the tree"), ("tests", "the tests (+ connector code they load)")):
        print(f"  {label:42} {ms([p[phase] for p in split])}")
    print(f"  modules loaded: {split[0]['modules']}")
    cli = [float(subprocess.run([sys.executable, "-c", HTTPX, which], check=True, capture_output=True, text=True,
                                env=env).stdout) for _ in range(args.runs) for which in ("with", "without")]
    print(f"  of which httpx's command-line client (not in an install without the test extra): "
          f"{(statistics.median(cli[0::2]) - statistics.median(cli[1::2])) * 1000:.0f} ms (median)")

    bundle = load_bundle(ROOT)
    runs = []
    for _ in range(args.runs):
        started = time.process_time()
        results = run_tests(bundle)
        runs.append(time.process_time() - started)
    assert all(r.passed for r in results), [r.format() for r in results if not r.passed]
    steps = sum(len(t.events) for t in bundle.tests)
    print(f"{len(results)} tests, {steps} steps, in a warm process (CPU): {ms(runs)}"
          f" ({min(runs) / len(results) * 1000:.1f} ms per test)")


if __name__ == "__main__":
    main()
