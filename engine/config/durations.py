"""Durations as config writes them: `30s`, `5m`, `1h30m`, `2d`, `250ms`."""
from __future__ import annotations

import re
from functools import lru_cache

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@lru_cache(maxsize=4096)  # a tree repeats a few durations thousands of times (throttles, windows)
def parse_duration(text: str | int | float) -> float:
    """Seconds in `text`; raises ValueError with a message a user can act on."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {text!r}")
    if isinstance(text, (int, float)):
        raise ValueError(f"a bare number is ambiguous; write it with a unit, e.g. {text}s or {text}m")
    s = str(text).strip()
    if not _WHOLE.match(s):
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 5m, 1h or 1h30m")
    return sum(float(n) * _SECONDS[u] for n, u in _PART.findall(s))


def format_duration(seconds: float) -> str:
    if seconds and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
