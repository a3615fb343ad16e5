"""Ids without a system call: valid version-4 UUIDs made of a counter and per-process
random bits.

`uuid.uuid4()` reads 16 bytes from `os.urandom` each time; in the stage thread that
syscall releases the GIL, and winning it back cost 29% of the thread's samples under load
(one id per alert, batch and event). Here the randomness is drawn once per process (again
in a forked child) and every id after that is a counter step: unique within the process,
and across processes as long as their 60 random bits differ (one chance in about 10^18
per pair). Ids are not secrets; never use these where an unguessable token is needed.
"""
from __future__ import annotations

import itertools
import os

_prefix = ""  # "-MMMM-4MMM-": 28 of the process's random bits
_tail_high = 0  # the other 32 random bits, above the counter's high bits in the last groups
_counter = itertools.count()


def _seed() -> None:
    global _prefix, _tail_high, _counter
    bits = int.from_bytes(os.urandom(16), "big")
    _prefix = f"-{(bits >> 112) & 0xFFFF:04x}-4{(bits >> 100) & 0xFFF:03x}-"
    _tail_high = (bits >> 68) & 0xFFFFFFFF
    _counter = itertools.count(bits & ((1 << 40) - 1))  # a random start: ids do not read as 0, 1, 2…


def new_id() -> str:
    """A new UUID (version 4 layout, RFC 4122 variant) as text.

    The counter's low 32 bits come first, so the first group, what the dashboard shows
    and `opsc explain` takes, differs from one alert to the next (and successive ids stay
    close in the primary key's index, as inserts like). The process's 60 random bits and the
    counter's high bits fill the rest."""
    n = next(_counter)
    tail = f"{(1 << 63) | (_tail_high << 30) | ((n >> 32) & 0x3FFFFFFF):016x}"  # variant 10, 32 random, 30 counter
    return f"{n & 0xFFFFFFFF:08x}{_prefix}{tail[:4]}-{tail[4:]}"


def new_hex() -> str:
    """The same id without dashes (raw event ids)."""
    return new_id().replace("-", "")


_seed()
os.register_at_fork(after_in_child=_seed)
