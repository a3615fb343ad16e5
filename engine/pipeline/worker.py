"""The pipeline worker: a bounded queue of raw events, processed in batches, one
transaction per batch, then notifications handed to the notifier.

Two threads: one runs the stages (CPU), the other writes the previous batch (I/O, the
GIL is released while PostgreSQL works), so both cores are used. Batches are written
in the order they were processed.

Back-pressure is explicit: `submit` refuses events that do not fit (Backpressure,
counted); connectors keep them and retry. A batch whose write fails is retried until
it is written; only a data error that repeats reduces it to its raw events (see _write).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Callable, Sequence

import psycopg

from ..connectors.base import Backpressure
from ..model import RawEvent
from ..store.batch import write_batch
from .pipeline import Pipeline

log = logging.getLogger("opsconductor.worker")


class WorkerStats:
    def __init__(self) -> None:
        self.events_in: dict[str, int] = {}
        self.processed = 0
        self.written = 0
        self.batches = 0
        self.rejected = 0  # events refused by back-pressure
        self.write_retries = 0
        self.errors = 0
        self.conflicts = 0
        self.process_seconds = 0.0  # time the stage thread spent running the pipeline
        self.write_seconds = 0.0  # time the writer spent in PostgreSQL transactions
        self.latencies: deque[float] = deque(maxlen=50_000)  # receipt → commit, seconds

    def percentile(self, q: float) -> float | None:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] if data else None


class PipelineWorker:
    def __init__(self, current: Callable[[], Pipeline], connect: Callable, notify: Callable[[Sequence], None],
                 *, max_queue: int = 50_000, max_batch: int = 1_000, tick_every: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._current = current
        self._connect = connect  # () -> a new psycopg connection
        self._notify = notify
        self._queue: queue.Queue[RawEvent] = queue.Queue()
        self._writes: queue.Queue = queue.Queue(maxsize=2)
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._tick_every = tick_every
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight = 0  # accepted and not yet written
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._process_loop, name="opsc-pipeline", daemon=True),
                         threading.Thread(target=self._write_loop, name="opsc-writer", daemon=True)]
        self._conn = None
        self.in_use: Pipeline | None = None  # the generation a batch is being processed with
        self.stats = WorkerStats()

    # ---- intake (any thread) ---------------------------------------------------------------

    def submit(self, events: list[RawEvent]) -> None:
        with self._lock:
            if self._queue.qsize() + len(events) > self._max_queue:
                self.stats.rejected += len(events)
                raise Backpressure(f"pipeline queue full ({self._queue.qsize()} waiting); retry later")
            self._inflight += len(events)
            for e in events:
                self._queue.put_nowait(e)
                self.stats.events_in[e.connector] = self.stats.events_in.get(e.connector, 0) + 1

    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was accepted, then stop."""
        self.drain(timeout)
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        if self._conn is not None:
            self._conn.close()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted event is written (tests, the demo, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._inflight == 0:
                    return True
            time.sleep(0.01)
        return False

    # ---- stage thread ------------------------------------------------------------------------

    def _process_loop(self) -> None:
        next_tick = time.monotonic() + self._tick_every
        while not self._stop.is_set():
            batch = self._take()
            due = time.monotonic() >= next_tick
            if not batch and not due:
                continue
            if due:
                next_tick = time.monotonic() + self._tick_every
            pipeline = self._current()  # the generation that takes a batch finishes it
            self.in_use = pipeline
            started = time.perf_counter()
            effects = []
            for event in batch:
                try:
                    effects.append(pipeline.process(event))
                except Exception:
                    self.stats.errors += 1
                    log.exception("event %s from %s could not be processed; kept as raw event",
                                  event.event_id, event.connector)
            if due:
                effects.append(pipeline.tick(self._clock()))
            self.in_use = None
            self.stats.process_seconds += time.perf_counter() - started
            self.stats.processed += len(batch)
            if batch or any(fx.changes or fx.decisions or fx.notifications for fx in effects):
                self._writes.put((batch, effects, pipeline.view.version_id))

    @staticmethod
    def _kept(batch: list[RawEvent], effects: list) -> list[RawEvent]:
        """The raw events to store: all but those their connector discards."""
        dropped = {id(fx.event) for fx in effects if fx.dropped}
        return [e for e in batch if id(e) not in dropped] if dropped else batch

    def _take(self) -> list[RawEvent]:
        try:
            first = self._queue.get(timeout=0.05)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    # ---- writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        while not (self._stop.is_set() and self._writes.empty()):
            try:
                batch, effects, version_id = self._writes.get(timeout=0.05)
            except queue.Empty:
                continue
            started = time.perf_counter()
            self._write(batch, effects, version_id)
            self.stats.write_seconds += time.perf_counter() - started
            committed = time.time()
            for event in batch:
                self.stats.latencies.append(committed - event.received_at.timestamp())
            self.stats.written += len(batch)
            self.stats.batches += 1
            with self._lock:
                self._inflight -= len(batch)
            notifications = [n for fx in effects for n in fx.notifications]
            if notifications:
                self._notify(notifications)

    def _write(self, batch, effects, version_id) -> None:
        """Write until it is written. A connection problem is retried for ever (PostgreSQL
        restarting must not lose anything). An error in the data itself, three times in a
        row, would stall every later batch: then only the raw events are kept (they can be
        replayed) and the batch's effects are logged and dropped."""
        delay = 0.1
        data_errors = 0
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                result = write_batch(self._conn, self._kept(batch, effects), effects if data_errors < 3 else [],
                                     version_id)
                self.stats.conflicts += len(result.conflicts)
                if data_errors >= 3:
                    self.stats.errors += len(batch)
                    log.critical("a batch of %d events kept as raw events only; its alerts were not stored "
                                 "(events %s …)", len(batch), ", ".join(e.event_id for e in batch[:5]))
                return
            except Exception as exc:
                self.stats.write_retries += 1
                if isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.OperationalError):
                    data_errors += 1
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                log.error("writing a batch of %d events failed (%s); retrying in %.1fs", len(batch), exc, delay)
                if self._stop.is_set() and delay >= 10:
                    log.critical("giving up on a batch of %d events at shutdown", len(batch))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
