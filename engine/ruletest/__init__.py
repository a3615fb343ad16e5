"""Rule unit tests (`opsc test`, rules/tests/*.yaml): the real pipeline in simulated time."""
from .runner import TestResult, run_tests
from .simulation import T0

__all__ = ["T0", "TestResult", "run_tests"]
