"""Freed memory handed back to the system: glibc's malloc_trim, after a reload.

A reload builds a whole new version (parsed files, rules, durable's rulesets) while the
running one is alive, then frees the old one. glibc keeps what was freed inside its heap
for reuse, and pages between live objects are returned only by a trim: without one the
engine's RSS rose ~15% over its first reloads and wandered there (measured with
bench/reload.py; the Python objects alive stayed the same count).
"""
from __future__ import annotations

import ctypes
from typing import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the process runs on (not glibc: none)
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def trim() -> bool:
    """Give the free pages of the C heap back to the system; False where there is no malloc_trim."""
    return bool(_TRIM(0)) if _TRIM is not None else False
