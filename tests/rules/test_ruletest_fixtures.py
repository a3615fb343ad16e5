"""Failing rule tests, one fixture per kind of input, with the exact output `opsc test -v`
gives them (the first difference, file:line, and the timeline in simulated time).
Regenerate an expected.txt only after reading the difference."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.ruletest import run_tests
from opsconductor.engine.ruletest.report import render

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def tree(tmp_path: Path, tests: Path) -> Path:
    """The default tree with the fixture's tests instead of the shipped ones."""
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.rmtree(tmp_path / "rules" / "tests")
    (tmp_path / "rules" / "tests").mkdir()
    shutil.copy(tests, tmp_path / "rules" / "tests" / tests.name)
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_failing_fixture_gives_exact_output(case: str, tmp_path: Path) -> None:
    results = run_tests(load_bundle(tree(tmp_path, FIXTURES / case / "failing.yaml")))
    expected = (FIXTURES / case / "expected.txt").read_text(encoding="utf-8").rstrip("\n")
    assert render(results, "text", verbose=True) == expected
    assert results and not any(r.passed for r in results)  # every test in a fixture fails


def test_every_kind_of_input_has_a_failing_fixture() -> None:
    assert set(CASES) >= {"webhook", "traps", "polls", "operators", "expectations"}
    for case in CASES:
        assert (FIXTURES / case / "expected.txt").is_file(), case
