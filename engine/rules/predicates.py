"""Matchers evaluated in Python: every operator, for silences and for the parts of rules
durable_rules cannot express faithfully (regex search, CIDR, tags, time windows, absence)."""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from ..config.bundle import Matcher, TimeWindow
from ..model import Severity

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def matcher_holds(m: Matcher, fields: dict[str, Any]) -> bool:
    value = fields.get(m.field)
    op, arg = m.op, m.value
    if m.field == "tags":
        tags = set(value or ())
        if op in ("eq", "contains"):
            return str(arg) in tags
        if op == "in":
            return bool(tags & {str(a) for a in arg})
        if op == "not_in":
            return not tags & {str(a) for a in arg}
        if op == "ne":
            return str(arg) not in tags
        if op == "exists":
            return bool(tags) == bool(arg)
    if op == "exists":
        return (value is not None and value != "") == bool(arg)
    if op == "eq":
        return value is not None and _same(value, arg)
    if op == "ne":
        return value is None or not _same(value, arg)
    if op == "in":
        return value is not None and any(_same(value, a) for a in arg)
    if op == "not_in":
        return value is None or not any(_same(value, a) for a in arg)
    if op in ("gt", "gte", "lt", "lte"):
        left, right = _ordered(m.field, value, arg)
        if left is None or right is None:
            return False
        return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]
    if op == "regex":
        return value is not None and _regex(str(arg)).search(str(value)) is not None
    if op == "not_regex":
        return value is None or _regex(str(arg)).search(str(value)) is None
    if op == "cidr":
        addr = _addr(value)
        if addr is None:
            return False
        version, number = addr
        return any(version == v and number & mask == network
                   for v, network, mask in map(_net, arg if isinstance(arg, tuple) else (arg,)))
    if op == "contains":
        return value is not None and str(arg) in str(value)
    raise ValueError(f"unknown matcher operator {op!r}")


def window_holds(window: TimeWindow | None, now: datetime) -> bool:
    """Whether `now` is inside the window. A window whose end is at or before its start
    crosses midnight, and `days` names the day it starts (as PagerDuty and Opsgenie read
    it): `days: [sun]`, 23:00-02:00 is Sunday 23:00 to Monday 02:00, not Sunday 00:00-02:00."""
    if window is None:
        return True
    return _window_at(window, int(now.timestamp() // 60))


@lru_cache(maxsize=4096)
def _window_at(window: TimeWindow, minute: int) -> bool:
    """The answer for one minute (it cannot change within one): asked for every alert, a
    time zone conversion each time showed in the profile."""
    local = datetime.fromtimestamp(minute * 60, ZoneInfo(window.timezone))
    day = local.weekday()
    start, end = window.start or "00:00", window.end or "24:00"
    hm = f"{local.hour:02d}:{local.minute:02d}"
    if start < end:
        return _DAYS[day] in window.days and start <= hm < end
    if hm >= start:  # the evening part, on a day the window starts
        return _DAYS[day] in window.days
    return hm < end and _DAYS[day - 1] in window.days  # the morning part: it started yesterday


def _same(value: Any, arg: Any) -> bool:
    if isinstance(value, bool) or isinstance(arg, bool):
        return str(value).lower() == str(arg).lower()
    return str(value) == str(arg)


def _ordered(field: str, value: Any, arg: Any) -> tuple[float, float] | tuple[None, None]:
    if field == "severity":
        try:
            return Severity(str(value)).rank, Severity(str(arg)).rank
        except ValueError:
            return None, None
    try:
        return float(value), float(arg)
    except (TypeError, ValueError):
        return None, None


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# Addresses and networks as (version, integer[, mask]): a CIDR test is then one AND and one
# compare, not ipaddress' property lookups.
@lru_cache(maxsize=65536)
def _addr(value: Any) -> tuple[int, int] | None:
    try:
        addr = ipaddress.ip_address(str(value)) if value else None
    except ValueError:
        return None
    return (addr.version, int(addr)) if addr is not None else None


@lru_cache(maxsize=1024)
def _net(text: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(str(text), strict=False)
    return net.version, int(net.network_address), int(net.netmask)
