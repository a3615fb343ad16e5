"""`opsc serve --journal-max` (or OPSC_JOURNAL_MAX): the intake journal's cap as an operator writes it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from opsconductor.engine.cli import build_parser


@pytest.mark.parametrize("text, size", [("2GiB", 2 * 1024**3), ("500MB", 500 * 1000**2), ("1.5 GiB", 3 * 1024**3 // 2),
                                        ("1048576", 1024 * 1024), ("8gib", 8 * 1024**3)])
def test_sizes_as_operators_write_them(text, size):
    assert build_parser().parse_args(["serve", "--journal-max", text]).journal_max == size


def test_default_is_two_gibibytes():
    assert build_parser().parse_args(["serve"]).journal_max == 2 * 1024**3


@pytest.mark.parametrize("text", ["abc", "10", "-5GiB", "0", "2 parsecs", "nanGiB", "1e400GiB", ""])
def test_bad_sizes_are_refused_with_the_value_named(text):
    done = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "serve", f"--journal-max={text}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--journal-max" in done.stderr and repr(text) in done.stderr
    assert "Traceback" not in done.stderr
