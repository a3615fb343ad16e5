"""Every check of the loader has a fixture tree under fixtures/ and the exact output it must give."""
from __future__ import annotations

from pathlib import Path

import pytest

from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.config.report import render

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_fixture_gives_exact_problems(case: str) -> None:
    tree = FIXTURES / case
    result = load_tree(tree, environ={}, with_git=False)
    expected = (tree / "expected.txt").read_text(encoding="utf-8").rstrip("\n")
    assert render(result.problems, "text") == expected
    # A tree with errors never yields a bundle; every case here has at least one error.
    assert result.errors and result.bundle is None


def test_every_fixture_has_expectations() -> None:
    assert len(CASES) >= 25
    for case in CASES:
        assert (FIXTURES / case / "expected.txt").is_file(), case
