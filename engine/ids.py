"""Ids without a system call: valid version-4 UUIDs made of a per-process random prefix
and a counter.

`uuid.uuid4()` reads 16 bytes from `os.urandom` each time; in the stage thread that
syscall releases the GIL, and winning it back cost 29% of the thread's samples under load
(one id per alert, batch and event). Here the randomness is drawn once per process (again
in a forked child) and every id after that is a counter step: unique within the process,
and across processes as long as their 60-bit random prefixes differ (one chance in about
10^18 per pair). Ids are not secrets; never use these where an unguessable token is needed.
"""
from __future__ import annotations

import itertools
import os

_LOW = (1 << 62) - 1
_prefix = ""
_counter = itertools.count()


def _seed() -> None:
    global _prefix, _counter
    bits = int.from_bytes(os.urandom(16), "big")
    high = f"{bits >> 68:015x}"  # 60 random bits: time_low, time_mid and 12 bits after the version nibble
    _prefix = f"{high[:8]}-{high[8:12]}-4{high[12:15]}-"
    _counter = itertools.count(bits & ((1 << 40) - 1))  # a random start: ids do not read as 0, 1, 2…


def new_id() -> str:
    """A new UUID (version 4 layout, RFC 4122 variant) as text."""
    tail = f"{(1 << 63) | (next(_counter) & _LOW):016x}"  # variant bits 10, then 62 counter bits
    return f"{_prefix}{tail[:4]}-{tail[4:]}"


def new_hex() -> str:
    """The same id without dashes (raw event ids)."""
    return new_id().replace("-", "")


_seed()
os.register_at_fork(after_in_child=_seed)
