"""The short version of the config fuzzer (bench/faults_config.py runs 10,000 trees): every
fuzzed tree is accepted or refused with located problems; none crashes the loader."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_300_fuzzed_trees_give_no_crash() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "faults_config.py"), "--trees", "300", "--json"],
                         capture_output=True, text=True, timeout=900)
    figures = json.loads(out.stdout)
    assert figures["crashes"] == 0, figures["examples"]
    assert figures["trees"] == 300 and figures["accepted"] + figures["refused"] == 300
    assert figures["refused"] > 0 and figures["accepted"] > 0  # the fuzzer reaches both outcomes
    assert "Traceback" not in out.stderr and out.returncode == 0
