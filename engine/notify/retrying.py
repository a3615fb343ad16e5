"""A request that cannot go out now: parked until its next attempt, or failed for good when
its channel's retry window is over (the policy: parking.py).

Two ways to get here. Its quick retries were spent on a transient error (`parker`, called by
delivery.deliver): the channel is down (breaker.py) and the rows wait their turn. Or it was
not attempted at all (`must_wait`): an earlier row of one of its alerts was parked while it
waited (lanes.py keeps that order), or its channel is down and another message has the
probe. The parks are collected here and written by the notifier's next settle.

Pure but for the notifier's clock: it passes the clock and its wall-time view.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Callable

from ..config.durations import format_duration
from ..pipeline.effects import Notification
from ..store.outbox import Park
from .breaker import Breakers, Outage
from .channels import DeliveryError
from .delivery import Park as ParkFn
from .lanes import Lanes
from .message import Message, human_time
from .parking import ParkPolicy, expired


class Retrying:
    def __init__(self, policy: ParkPolicy, breakers: Breakers, lanes: Lanes, clock: Callable[[], float],
                 wall: Callable[[float], datetime]) -> None:
        self._policy = policy
        self._breakers = breakers
        self._lanes = lanes
        self._clock = clock
        self._wall = wall  # clock time → wall time
        self.parks: list[Park] = []  # for the next settle
        self.parked = 0  # rows parked since start

    def take(self) -> list[Park]:
        parks, self.parks = self.parks, []
        return parks

    def must_wait(self, channel: str, ids: set[str], now: float) -> tuple[datetime, str] | None:
        """Until when and why a request must wait without an attempt: behind a parked row of
        one of its alerts, or on a channel that is down (unless this request takes the probe)."""
        until = self._lanes.blocked(channel, ids)
        if until is not None:
            return until, f"waits behind an earlier notification of its alert, parked until {human_time(until)}"
        outage = self._breakers.outage(channel)
        if outage is None or self._breakers.take_probe(channel, now):
            return None
        return self._wall(self._next_probe(outage, now)), (
            f"channel {channel} is down since {human_time(self._wall(outage.since))} ({outage.error})")

    def hold(self, msg: Message, ids: set[str], window: float, until: datetime, reason: str) -> tuple[set[str], str]:
        """Park the rows of these alerts until `until` without an attempt; those whose retry
        window is over fail instead: (their alert ids, the error to log for them)."""
        wall = self._wall(self._clock())
        lost = set()
        for n in msg.notifications:
            if n.alert.id not in ids:
                continue
            if expired(getattr(n, "created_at", None), wall, window):
                lost.add(n.alert.id)
            else:
                self._park(msg.channel, n, until, f"not attempted: {reason}")
        return lost, f"not sent: {reason}; its retry window ({format_duration(window)}) is over"

    def parker(self, msg: Message, channel: str, ids: set[str], window: float, probe: bool) -> ParkFn:
        """For delivery.deliver: a request's quick retries (or the probe) were spent on a
        transient error. The channel is down; the rows are parked until their next attempt,
        unless the retry window of the newest is over (then they fail)."""
        def park(error: DeliveryError, text: str) -> tuple[bool, str] | None:
            if window <= 0:
                return None  # `retry_for: 0s`: no parking, and the channel is never held as down
            now = self._clock()
            wall = self._wall(now)
            outage = self._breakers.failed(channel, now, text, probe)
            created = [c for n in msg.notifications if n.alert.id in ids and (c := getattr(n, "created_at", None))]
            if created and expired(max(created), wall, window):
                return False, f"retried for {format_duration(window)} (retry_for): given up"
            waited = (wall - min(created)).total_seconds() if created else 0.0
            delay = round(max(self._next_probe(outage, now) - now, self._policy.row_delay(waited)), 3)
            until = wall + timedelta(seconds=delay)
            for n in msg.notifications:
                if n.alert.id in ids:
                    self._park(channel, n, until, None)  # its last_error: this attempt's
            what = "probe failed" if probe else "quick retries spent"
            return True, (f"{what}, parked: next attempt in {format_duration(delay)} (retried for up to"
                          f" {format_duration(window)})")
        return park

    def _park(self, channel: str, n: Notification, until: datetime, reason: str | None) -> None:
        oid = getattr(n, "outbox_id", "")
        if oid:
            self.parks.append(Park(oid, until, reason))
            self._lanes.block(channel, n.alert.id, until)
            self.parked += 1

    @staticmethod
    def _next_probe(outage: Outage, now: float) -> float:
        """When the channel is probed next (now, while a probe is out: its result decides)."""
        return now if outage.probe_at == math.inf else max(now, outage.probe_at)
