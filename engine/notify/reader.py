"""Reading the outbox for the notifier: new rows in sequence order, parked rows when their
next attempt is due, and the rows a read left out once their channel has room again.

Each pass, while the notifier has room (max_in_flight): parked rows that are due (at most
once a second, and only while the outbox holds parked rows); a catch-up read per channel
that was left out and has room now (lanes.py); then new rows past the last seq read. Every
read leaves out the channels that have no room (at their quota, or down until their probe),
so one dead or slow channel never stops the others. A row read but not taken (its channel
filled up within the batch) is read again later. Rows are read in sequence order; a row
committed after a later one (another process writing) is picked up by a rescan from the
start every 10 s.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Callable

from ..store.outbox import OutboxState, PendingRow, Window, outbox_state, read_channel, read_due, read_window
from .dbthread import DbThread
from .lanes import Lanes

READ_BATCH = 1_000
RESCAN_EVERY = 10.0  # seconds: look again from the start of the outbox for rows committed out of order
STATE_EVERY = 2.0  # seconds between readings of the outbox's depth and age
DUE_EVERY = 1.0  # seconds between reads of parked rows that are due


class OutboxReader:
    def __init__(self, db: DbThread, lanes: Lanes, max_in_flight: int, *, rescan_every: float = RESCAN_EVERY,
                 pause: float = 0.5) -> None:
        self._db = db
        self._lanes = lanes
        self._max = max_in_flight
        self._rescan_every = rescan_every
        self._pause = pause  # after a failed read (PostgreSQL away)
        self.after = 0  # highest outbox seq the main read got to
        self.more = True  # the outbox may hold rows past `after`
        self.wakes = 0  # wakes: a read that began before the last one must not clear `more`
        self.taken = 0  # rows taken since start
        self.state = OutboxState(0, 0.0)
        self._parked_since = 0  # parks settled since the last state reading began
        self._rescan_at = 0.0
        self._state_at = 0.0
        self._due_at = 0.0
        self._reading: asyncio.Lock | None = None  # one pass at a time (the loop's and flush()'s): a pass is not re-entrant

    def woken(self) -> None:
        self.more = True
        self.wakes += 1

    def back_to(self, seq: int) -> None:
        """Rows after `seq` may be unread (they waited behind a parked row): read from there."""
        if seq < self.after:
            self.after = seq
        self.more = True

    def parked(self) -> None:
        """Rows were parked: read the due ones from now on, whatever the last state reading said."""
        self._parked_since += 1

    async def read(self, now: float, wall: datetime, take: Callable[[list[PendingRow]], None],
                   due: bool = False) -> None:
        """One pass; `take` gets the rows admitted (their channel had room), in sequence order."""
        if self._reading is None:
            self._reading = asyncio.Lock()  # made in the notifier's loop
        async with self._reading:
            await self._pass(now, wall, take, due)

    async def _pass(self, now: float, wall: datetime, take: Callable[[list[PendingRow]], None], due: bool) -> None:
        real = time.monotonic()
        if real >= self._state_at:
            self._state_at = real + STATE_EVERY
            parks = self._parked_since
            try:
                self.state = await self._db.run(outbox_state)
                if self.state.parked == 0 and parks == self._parked_since:
                    self._parked_since = 0
            except Exception:
                pass  # counted and logged by the db thread
        if real >= self._rescan_at:  # a batch committed after a later one (another process): look again
            self._rescan_at = real + self._rescan_every
            self.after, self.more = 0, True
        if due or real >= self._due_at:
            self._due_at = real + DUE_EVERY
            if (due or self.state.parked or self._parked_since) and not await self._read_due(take, now, wall):
                return
            for channel, seq, limit in self._lanes.expiring(self._lanes.closed(now, wall)):
                if not await self._catch_up(channel, seq, limit, take, now, wall):
                    return
        for channel, seq in self._lanes.lagging(self._lanes.closed(now, wall)):
            if not await self._catch_up(channel, seq, self._lanes.catch_up_room(channel, now), take, now, wall):
                return
        if not self.more or self._room() <= 0:
            return
        wakes = self.wakes
        limit = min(self._room(), READ_BATCH)
        left_out = self._lanes.left_out(self._lanes.closed(now, wall))  # and what it goes past of them is read later
        self._lanes.reading(left_out, self.after)
        try:
            window: Window = await self._db.run(read_window, self.after, limit, left_out, READ_BATCH)
        except Exception:
            return await asyncio.sleep(self._pause)  # PostgreSQL away: try again on the next pass
        self._admit(window.rows, now, wall, take, True)
        if len(window.rows) == limit:  # the room ran out within the window
            self.after, self.more = max(self.after, window.rows[-1].seq), True
        else:
            self.after = max(self.after, window.upto or 0)
            self.more = window.full or self.wakes != wakes

    async def _catch_up(self, channel: str, seq: int, room: int, take: Callable[[list[PendingRow]], None],
                        now: float, wall: datetime) -> bool:
        """Read the channel's rows the main read went past (up to where it got); False on a
        database error. A down channel's: the first ones, to fail those whose window is over."""
        limit = min(self._room(), room, READ_BATCH)
        if limit <= 0:
            return True
        try:
            rows = await self._db.run(read_channel, channel, seq, self.after, limit)
        except Exception:
            await asyncio.sleep(self._pause)  # PostgreSQL away: try again on the next pass
            return False
        self._lanes.caught_up(channel, rows[-1].seq if len(rows) == limit else None)
        self._admit(rows, now, wall, take, True)  # what it does not take lowers the mark again
        return True

    async def _read_due(self, take: Callable[[list[PendingRow]], None], now: float, wall: datetime) -> bool:
        """Parked rows that are due, leaving out the channels without room; False on a database error."""
        limit = min(self._room(), READ_BATCH)
        if limit <= 0:
            return True
        try:
            rows: list[PendingRow] = await self._db.run(read_due, wall, limit, self._lanes.closed(now, wall))
        except Exception:
            await asyncio.sleep(self._pause)  # PostgreSQL away: try again on the next pass
            return False
        self._admit(rows, now, wall, take, False)
        return True

    def _admit(self, rows: list[PendingRow], now: float, wall: datetime, take: Callable[[list[PendingRow]], None],
               new: bool) -> None:
        admitted = []
        for row in rows:
            if row.id in self._lanes:
                continue
            if not self._lanes.admits(row.channel, row.created_at, now, wall):
                if new:  # a parked row stays due in the outbox; a new one must be read again
                    self._lanes.skipped(row.channel, row.seq)
                continue
            self._lanes.add(row.id, row.channel, row.alert.id)
            admitted.append(row)
        self.taken += len(admitted)
        if admitted:
            take(admitted)

    def _room(self) -> int:
        return self._max - len(self._lanes)
