"""The pipeline worker: a bounded queue of raw events, processed in batches, one
transaction per batch, then notifications handed to the notifier.

Back-pressure is explicit: `submit` refuses a batch that does not fit (Backpressure,
counted); connectors keep the events and retry. A batch whose write fails is retried
until it is written, so nothing accepted is lost.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Callable, Sequence

from ..connectors.base import Backpressure
from ..model import RawEvent
from ..store.batch import write_batch
from .pipeline import Pipeline

log = logging.getLogger("opsconductor.worker")


class WorkerStats:
    def __init__(self) -> None:
        self.events_in: dict[str, int] = {}
        self.processed = 0
        self.batches = 0
        self.rejected = 0  # events refused by back-pressure
        self.write_retries = 0
        self.errors = 0
        self.latencies: deque[float] = deque(maxlen=20_000)  # receipt → commit, seconds

    def percentile(self, q: float) -> float | None:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] if data else None


class PipelineWorker:
    def __init__(self, current: Callable[[], Pipeline], connect: Callable, notify: Callable[[Sequence], None],
                 *, max_queue: int = 50_000, max_batch: int = 1_000, tick_every: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._current = current
        self._connect = connect
        self._notify = notify
        self._queue: queue.Queue[RawEvent] = queue.Queue()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._tick_every = tick_every
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="opsc-pipeline", daemon=True)
        self.stats = WorkerStats()

    # ---- intake (any thread) ---------------------------------------------------------------

    def submit(self, events: list[RawEvent]) -> None:
        with self._lock:
            if self._queue.qsize() + len(events) > self._max_queue:
                self.stats.rejected += len(events)
                raise Backpressure(f"pipeline queue full ({self._queue.qsize()} waiting); retry later")
            for e in events:
                self._queue.put_nowait(e)
                self.stats.events_in[e.connector] = self.stats.events_in.get(e.connector, 0) + 1
            self._idle.clear()

    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what was accepted, then stop."""
        self._stop.set()
        self._thread.join(timeout)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted event is written (tests, demo, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._idle.wait(0.05) and self._queue.empty():
                return True
        return False

    # ---- the loop (its own thread) -------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic() + self._tick_every
        while True:
            batch = self._take()
            due = time.monotonic() >= next_tick
            if batch or due:
                self._process(batch, tick=due)
                if due:
                    next_tick = time.monotonic() + self._tick_every
            if not batch:
                self._idle.set()
                if self._stop.is_set() and self._queue.empty():
                    return

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

    def _process(self, batch: list[RawEvent], tick: bool) -> None:
        pipeline = self._current()  # the generation that takes the batch finishes it
        effects = []
        for event in batch:
            try:
                effects.append(pipeline.process(event))
            except Exception:
                self.stats.errors += 1
                log.exception("event %s from %s could not be processed; kept as raw event", event.event_id,
                              event.connector)
        if tick:
            effects.append(pipeline.tick(self._clock()))
        if not batch and not any(fx.changes or fx.decisions for fx in effects):
            return
        self._write(batch, effects, pipeline.view.version_id)
        committed = time.time()
        for event in batch:
            self.stats.latencies.append(committed - event.received_at.timestamp())
        self.stats.processed += len(batch)
        self.stats.batches += 1
        notifications = [n for fx in effects for n in fx.notifications]
        if notifications:
            self._notify(notifications)

    def _write(self, batch, effects, version_id) -> None:
        delay = 0.1
        while True:
            try:
                with self._connect() as conn:
                    write_batch(conn, batch, effects, version_id)
                return
            except Exception as exc:
                self.stats.write_retries += 1
                log.error("writing a batch of %d events failed (%s); retrying in %.1fs", len(batch), exc, delay)
                if self._stop.is_set() and delay > 5:
                    log.critical("giving up on a batch of %d events at shutdown", len(batch))
                    return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
