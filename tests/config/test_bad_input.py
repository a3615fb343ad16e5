"""Every check of the loader has a fixture tree under fixtures/ and the exact output it must give."""
from __future__ import annotations

from pathlib import Path

import pytest

from opsconductor.engine.config.report import render
from opsconductor.engine.rules.limits import validate_tree

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_fixture_gives_exact_problems(case: str) -> None:
    tree = FIXTURES / case
    # fuzz_* are inputs that once crashed the loader (bench/faults_config.py found them); some
    # are fine trees whose ${file:} secrets are not, so those resolve secrets as serve does.
    fuzzed = case.startswith("fuzz_")
    result = validate_tree(tree, environ={}, with_git=False, check_secrets=fuzzed)
    expected = (tree / "expected.txt").read_text(encoding="utf-8").rstrip("\n")
    assert render(result.problems, "text") == expected
    assert "the loader failed" not in expected
    if not fuzzed:  # A tree with errors never yields a bundle; every such case has at least one error.
        assert result.errors and result.bundle is None


def test_every_fixture_has_expectations() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        assert (FIXTURES / case / "expected.txt").is_file(), case
