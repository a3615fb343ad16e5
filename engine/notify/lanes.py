"""The notifier's in-flight set, by channel: outbox rows read and not yet settled.

Each channel may hold at most `quota` of them (of the notifier's max_in_flight), so a channel
that does not drain (a receiver that hangs until its timeout, a storm to a slow webhook)
leaves room for every other: the reads leave out the rows of a channel at its quota, and of a
channel that is down (breaker.py) except the one row of its probe and rows whose retry window
is over (read to be failed). A channel left out gets a `behind` mark: the seq after which its
rows may not all have been read. When it has room again the notifier catches up with reads
of that channel alone, up to where the main read has got, and the main read leaves the
channel out until it has caught up: no row is missed, and a later row of an alert is never
taken before an earlier one.

Order across parking: when a row is parked, a later row of the same alert on the same channel
already in hand must not go out before it; `blocked` says so until no row of that alert on
that channel is in hand any more. From then on the reads leave such rows out
(store/outbox.py).

Pure: the notifier passes the times.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Callable, Iterable

from .breaker import Breakers
from .parking import expired

CATCH_UP = 100  # rows of room a channel needs before a catch-up read (fewer: many small reads)


class Lanes:
    def __init__(self, quota: int, breakers: Breakers, window: Callable[[str], float]) -> None:
        self.quota = quota
        self._breakers = breakers
        self._window = window  # channel → its retry window in seconds
        self._rows: dict[str, tuple[str, str]] = {}  # outbox id → (channel, alert id)
        self._channels: Counter[str] = Counter()
        self._alerts: Counter[tuple[str, str]] = Counter()
        self._blocked: dict[tuple[str, str], datetime] = {}  # (channel, alert id) → until when
        self._behind: dict[str, int] = {}  # channel → seq after which its rows may be unread

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, oid: object) -> bool:
        return oid in self._rows

    def count(self, channel: str) -> int:
        return self._channels.get(channel, 0)

    def add(self, oid: str, channel: str, alert_id: str) -> None:
        self._rows[oid] = (channel, alert_id)
        self._channels[channel] += 1
        self._alerts[(channel, alert_id)] += 1

    def remove(self, oids: Iterable[str]) -> None:
        for oid in oids:
            key = self._rows.pop(oid, None)
            if key is None:
                continue
            channel = key[0]
            self._channels[channel] -= 1
            if self._channels[channel] <= 0:
                del self._channels[channel]
            self._alerts[key] -= 1
            if self._alerts[key] <= 0:
                del self._alerts[key]
                self._blocked.pop(key, None)

    # ---- order across parking -------------------------------------------------------------------

    def block(self, channel: str, alert_id: str, until: datetime) -> None:
        key = (channel, alert_id)
        if key in self._alerts:
            self._blocked[key] = max(until, self._blocked.get(key, until))

    def blocked(self, channel: str, alert_ids: Iterable[str]) -> datetime | None:
        """Until when a message about these alerts must wait behind a parked row, or None."""
        times = [t for a in alert_ids if (t := self._blocked.get((channel, a))) is not None]
        return max(times) if times else None

    # ---- what the reads take ----------------------------------------------------------------------

    def room(self, channel: str, now: float) -> int:
        """Rows of the channel the notifier may take now: its quota's rest; for a channel that
        is down, one (the probe) once its back-off has ended and nothing of it is in hand."""
        n = self._channels.get(channel, 0)
        if self._breakers.outage(channel) is not None:
            return 1 if n == 0 and self._breakers.probe_due(channel, now) else 0
        return max(0, self.quota - n)

    def admits(self, channel: str, created_at: datetime | None, now: float, wall: datetime) -> bool:
        if self.room(channel, now) > 0:
            return True
        return (self._breakers.outage(channel) is not None and self._channels.get(channel, 0) < self.quota
                and expired(created_at, wall, self._window(channel)))

    def closed(self, now: float, wall: datetime) -> dict[str, datetime | None]:
        """Channels whose rows the reads leave out → cutoff (rows created at or before it are
        read all the same: their window is over) or None."""
        out: dict[str, datetime | None] = {c: None for c, n in self._channels.items() if n >= self.quota}
        for channel in self._breakers.down():
            if channel not in out and self.room(channel, now) == 0:
                out[channel] = wall - timedelta(seconds=self._window(channel))
        return out

    def left_out(self, closed: dict[str, datetime | None]) -> dict[str, datetime | None]:
        """What the main read leaves out: the closed channels, and those still catching up."""
        return {**{c: None for c in self._behind}, **closed}

    def reading(self, left_out: Iterable[str], after: int) -> None:
        """The main read goes past `after` without the rows of these channels."""
        for channel in left_out:
            self._behind[channel] = min(self._behind.get(channel, after), after)

    def skipped(self, channel: str, seq: int) -> None:
        """A row read and not taken (no room): read it again later."""
        self._behind[channel] = min(self._behind.get(channel, seq - 1), seq - 1)

    def lagging(self, closed: dict[str, datetime | None]) -> list[tuple[str, int]]:
        """Channels with room that have rows to catch up on, and from which seq."""
        return [(c, seq) for c, seq in self._behind.items() if c not in closed]

    def expiring(self, closed: dict[str, datetime | None]) -> list[tuple[str, int, int]]:
        """Down channels with unread rows, some of which may have seen their retry window end:
        (channel, from which seq, how many rows to look at). They are read to be failed."""
        return [(c, seq, min(self.quota - self.count(c), CATCH_UP)) for c, seq in self._behind.items()
                if closed.get(c) is not None and self.count(c) < self.quota]

    def catch_up_room(self, channel: str, now: float) -> int:
        """Rows a catch-up read of the channel may take: its room once that is worth a read
        (a channel that drains one row at a time would otherwise be read one row at a time,
        over the rows it has in hand), or the one row of a down channel's probe."""
        room = self.room(channel, now)
        return room if room >= min(CATCH_UP, self.quota) or self._breakers.outage(channel) is not None else 0

    def caught_up(self, channel: str, seq: int | None) -> None:
        """The catch-up read got to `seq` (None: to the main read's position)."""
        if seq is None:
            self._behind.pop(channel, None)
        else:
            self._behind[channel] = seq

    def full(self) -> list[str]:
        return sorted(c for c, n in self._channels.items() if n >= self.quota)
