"""Time windows (rule `time:` and silence `schedule:`): a window whose end is at or before its
start crosses midnight, and `days` names the day it starts."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from opsconductor.engine.config.bundle import TimeWindow
from opsconductor.engine.rules.predicates import window_holds


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=timezone.utc)  # 2026-01-05 is a Monday


SUNDAY_NIGHT = TimeWindow(days=("sun",), start="23:00", end="02:00", timezone="UTC")


@pytest.mark.parametrize("when, holds", [
    (utc(11, 22, 59), False),  # Sunday before the start
    (utc(11, 23, 0), True),    # Sunday 23:00
    (utc(12, 0, 0), True),     # Monday midnight
    (utc(12, 1, 59), True),    # Monday 01:59
    (utc(12, 2, 0), False),    # Monday 02:00: the end is exclusive
    (utc(11, 1, 0), False),    # Sunday 01:00 is Saturday night's morning
    (utc(12, 23, 30), False),  # Monday evening: the window starts on Sundays only
])
def test_a_window_crossing_midnight_belongs_to_the_day_it_starts(when, holds) -> None:
    assert window_holds(SUNDAY_NIGHT, when) is holds


def test_end_equal_to_start_is_a_whole_day_from_the_start() -> None:
    w = TimeWindow(days=("fri",), start="08:00", end="08:00", timezone="UTC")
    assert [window_holds(w, t) for t in (utc(9, 7, 59), utc(9, 8), utc(10, 7, 59), utc(10, 8))] == [
        False, True, True, False]


def test_open_ends_and_midnight_end() -> None:
    evening = TimeWindow(days=("mon",), start="18:00", end=None, timezone="UTC")
    assert [window_holds(evening, t) for t in (utc(5, 17, 59), utc(5, 23, 59), utc(6, 0, 0))] == [False, True, False]
    morning = TimeWindow(days=("mon",), start=None, end="06:00", timezone="UTC")
    assert [window_holds(morning, t) for t in (utc(5, 0, 0), utc(5, 6, 0), utc(4, 23, 0))] == [True, False, False]
    whole = TimeWindow(days=("mon",), start="00:00", end="24:00", timezone="UTC")
    assert [window_holds(whole, t) for t in (utc(5, 0), utc(5, 23, 59), utc(6, 0))] == [True, True, False]


def test_days_and_hours_are_read_in_the_window_time_zone() -> None:
    # Sunday 23:00-02:00 in Berlin (UTC+1 in January) is Sunday 22:00 to Monday 01:00 UTC.
    berlin = TimeWindow(days=("sun",), start="23:00", end="02:00", timezone="Europe/Berlin")
    assert [window_holds(berlin, t) for t in (utc(11, 21, 59), utc(11, 22, 0), utc(12, 0, 59), utc(12, 1, 0))] == [
        False, True, True, False]
