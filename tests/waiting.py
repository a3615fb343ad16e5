"""Waiting for something to happen, never for a duration.

A test waits on an event, a barrier or the simulated clock where the code offers one; where
it does not (a file watcher, another process, a socket), it polls the condition until it
holds. The deadline is generous and only turns a hang into a failure that says what never
happened: nothing is asserted about how long it took.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

DEADLINE = 60.0  # seconds a condition may take before the test fails (a loaded CI machine)
_POLL = 0.02


def eventually(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll `check` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(_POLL)


async def aeventually(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """`eventually` in an event loop: the loop runs while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(_POLL)
