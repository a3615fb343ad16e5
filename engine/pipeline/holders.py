"""Who is using a config generation: freed when it is retired and its last holder is done.

A reload retires the old generation the moment the new one is live; a batch that took
the old one before the swap finishes with it. The last of the two (the retirement or
the end of that batch) frees it: no polling, no timeout that frees it in use.
"""
from __future__ import annotations

import threading
from typing import Callable

from ..errors import OpscError


class Holders:
    """A count of holders and a retired flag; `free` runs once, in the thread that ends the last use."""

    def __init__(self, free: Callable[[], None]):
        self._free = free
        self._lock = threading.Lock()
        self._count = 0
        self._retired = False
        self.freed = threading.Event()  # set once `free` has run

    @property
    def count(self) -> int:
        return self._count

    def acquire(self) -> None:
        """One more holder; refused once retired (a retired generation takes no new work)."""
        with self._lock:
            if self._retired:
                raise OpscError("this config generation is retired: take the current one")
            self._count += 1

    def release(self) -> None:
        with self._lock:
            if self._count <= 0:
                raise OpscError("released a config generation nobody holds")
            self._count -= 1
            last = self._retired and self._count == 0
        if last:
            self._run_free()

    def retire(self) -> None:
        """No new holders; freed now if nobody holds it, else when the last holder releases it."""
        with self._lock:
            if self._retired:
                return
            self._retired = True
            last = self._count == 0
        if last:
            self._run_free()

    def _run_free(self) -> None:
        try:
            self._free()
        finally:
            self.freed.set()
