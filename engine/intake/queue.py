"""The intake queue between the connectors (webhooks, traps, pollers) and the pipeline.

With a journal, `put` returns once the events are durable (written and fdatasync'd in a
group, intake/journal.py): that is when a webhook may answer 2xx and a trap receiver
may answer an inform. The events wait in memory, tagged with their journal segment, and
the segment goes once all of its events are committed (`committed`).

Memory holds at most `max_memory` events. Beyond that (a database outage, a burst
larger than the pipeline) the queue *spools*: events are journaled only, and the stage
thread reads them back from the files in order as room frees up; new events keep going
to the files until the reading has caught up, so the order of acceptance is kept. Only
a full journal (its byte cap) refuses events (Backpressure → HTTP 503).

Without a journal (tests, tools) it is a bounded in-memory queue that refuses when full.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from operator import itemgetter
from typing import Sequence

from ..connectors.base import Backpressure
from ..model import RawEvent
from .journal import Journal, JournalError, Position, Written, encode

log = logging.getLogger("opsconductor.intake")

class NotSynced(Backpressure):
    """The events were queued (they will be processed) but the journal could not sync them:
    the caller must not acknowledge them; a retry by the sender is at worst an occurrence."""


def not_synced(journal: Journal, exc: OSError) -> NotSynced:
    log.critical("the intake journal %s could not be synced: %s", journal.directory, exc)
    return NotSynced(f"the intake journal could not be synced ({exc.strerror or exc}); retry later")


_READ_RECORDS = 16  # records read back from the journal per step
_segment_of = itemgetter(1)


class IntakeQueue:
    def __init__(self, journal: Journal | None, max_memory: int = 50_000):
        self.journal = journal
        self._max = max_memory
        self._items: deque[tuple[RawEvent, int]] = deque()  # (event, journal segment; 0 without a journal)
        self._cond = threading.Condition()
        self._spool_from: Position | None = None  # spooling: the next record to read back
        self._spooled = 0  # events in the journal only
        self.spooled_total = 0  # events ever spooled (a counter, for the figures)
        self._spooling_since = 0.0

    def put(self, events: Sequence[RawEvent], sync: bool = True) -> Written | None:
        """Accept events; durable on return when there is a journal. Backpressure when they
        do not fit (no journal: memory full; with one: the journal full or failing).
        `sync=False`: journaled but not yet synced; the caller awaits `journal.synced` on
        the record returned before it acknowledges them (None: no journal, nothing to wait for)."""
        journal = self.journal
        if journal is None:
            with self._cond:
                if len(self._items) + len(events) > self._max:
                    raise Backpressure(f"pipeline queue full ({len(self._items)} waiting); retry later")
                self._items.extend((e, 0) for e in events)
                self._cond.notify()
            return None
        record = encode(events)  # outside the lock: the pickling is most of the cost
        with self._cond:
            try:
                written = journal.write(record, len(events))
            except JournalError as exc:
                raise Backpressure(f"{exc}; retry later") from exc
            if self._spool_from is None and len(self._items) + len(events) <= self._max:
                self._items.extend((e, written.segment) for e in events)
                self._cond.notify()
            else:
                if self._spool_from is None:
                    self._spool_from = written.start
                    self._spooling_since = time.monotonic()
                    log.warning("the pipeline is behind (%d events in memory): spooling accepted events to the"
                                " journal %s", len(self._items), journal.directory)
                self._spooled += len(events)
                self.spooled_total += len(events)
        if sync:
            try:
                journal.sync(written)
            except OSError as exc:  # the disk failed us: the caller must not take these as acknowledged
                raise not_synced(journal, exc) from exc
        return written

    async def durable(self, written: Written | None) -> None:
        """Returns once a record `put(..., sync=False)` wrote is on disk (group commit, no
        thread per caller); NotSynced if the disk failed (the caller must not acknowledge)."""
        if written is None or self.journal is None:
            return
        try:
            await self.journal.synced(written)
        except OSError as exc:
            raise not_synced(self.journal, exc) from exc

    def take(self, limit: int, timeout: float) -> tuple[list[RawEvent], dict[int, int]]:
        """Up to `limit` events in order, and how many of them each journal segment holds."""
        with self._cond:
            if self._spool_from is not None and len(self._items) < limit:
                self._refill()
            if not self._items:
                self._cond.wait(timeout)
                if self._spool_from is not None:
                    self._refill()
                if not self._items:
                    return [], {}
            items = self._items
            batch = [items.popleft() for _ in range(min(limit, len(items)))]
        return [e for e, _ in batch], (dict(Counter(map(_segment_of, batch))) if self.journal else {})

    def committed(self, segments: dict[int, int]) -> None:
        if self.journal is not None and segments:
            self.journal.done(segments)

    def depth(self) -> int:
        return len(self._items) + self._spooled

    @property
    def spooled(self) -> int:
        return self._spooled

    def _refill(self) -> None:
        """Read spooled records back while memory has room (the lock is held: no put can
        slip in between, so when the reading meets the writing, spooling ends)."""
        assert self.journal is not None and self._spool_from is not None
        while len(self._items) < self._max:
            records, position = self.journal.read(self._spool_from, _READ_RECORDS)
            self._spool_from = position
            for events, segment in records:
                self._items.extend((e, segment) for e in events)
                self._spooled -= len(events)
            if not records:
                break
        if self._spool_from == self.journal.end():
            log.warning("the pipeline caught up with the journal after %.0f s of spooling",
                        time.monotonic() - self._spooling_since)
            self._spool_from = None
            self._spooled = 0
