"""Kept for imports written before rule tests moved to engine/ruletest/."""
from ..ruletest import T0, TestResult, run_tests

__all__ = ["T0", "TestResult", "run_tests"]
