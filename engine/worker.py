"""The pipeline worker: a bounded queue of raw events, processed in batches, one
transaction per batch (its notifications in the outbox), then the notifier woken.

The stage thread runs the stages and formats each batch for COPY (store/batch.py); a
child process writes the batches in order (store/writer.py), so the stages and
PostgreSQL each have a core and no GIL is shared with the writing. A batch's
notifications are outbox rows of its transaction; once the child reports it committed,
`notify` wakes the notifier, which delivers from the outbox.

Intake goes through an IntakeQueue (intake/queue.py): with a journal, `submit` returns
once the events are durable (fsync'd in groups), and a journal segment is let go once
every event in it is committed; beyond `max_queue` events in memory the queue spools to
the journal and reads back in order. Back-pressure is explicit: `submit` refuses what
does not fit (Backpressure; each refused event counted once however often it is offered
again); connectors keep them and retry. The stage thread waits when two batches are
already on their way to the writer, so a slow database fills the queue, not memory.

Operators' acknowledges, resolves and silences are commands on the same queue's stage
thread (`command`, pipeline/commands.py, pipeline/silencing.py): each batch runs the
commands that came in first, then its events, and writes them in one transaction; the
caller's Future is answered once that batch is committed (at once when the view refuses the
command: nothing to write). The engine is the only writer of alerts and silences, so
nothing resolves an alert or ends a silence behind the view's back.

An alert the writer could not store (a data error isolated to it, or an open alert with
its fingerprint already in the database) is forgotten by the open-alert view before the
next batch, and its notifications are not sent: memory never holds open what the
database does not.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, ContextManager, Sequence, TypeVar

from .connectors.base import Backpressure
from .intake.journal import Journal, Written
from .intake.queue import IntakeQueue, NotSynced
from .metrics import Histogram
from .errors import StoreError
from .model import RawEvent, Status, evolve
from .store.batch import prepare_batch
from .store.writer import BatchWriter, WriteReport
from .pipeline.commands import CommandAnswer, OperatorCommand, Outcome
from .pipeline.effects import Effects, Notification
from .pipeline.pipeline import Pipeline
from .pipeline.silencing import SilenceAnswer, SilenceChange, SilenceCommand, undone

# Receipt → commit, seconds: the buckets of opsc_pipeline_latency_seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

log = logging.getLogger("opsconductor.worker")
T = TypeVar("T")
# A firing notification that finally failed: (alert id, fingerprint, rule, channel, decided at).
Undelivered = tuple[str, str, str, str, datetime]
_REFUSED_KEPT = 100_000  # event ids remembered as refused, so an event offered again is not counted again


Command = OperatorCommand | SilenceCommand
Answer = CommandAnswer | SilenceAnswer
Pending = tuple["Future[Answer]", Answer]  # a command applied, answered once its batch is committed


class CommandNotStored(StoreError):
    """An operator's command was applied to the view but its batch could not store it."""


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
        self.prepare_seconds = 0.0  # of which formatting batches for COPY
        self.write_seconds = 0.0  # time the writer process spent in PostgreSQL transactions
        self.latencies: deque[float] = deque(maxlen=50_000)  # receipt → commit, seconds (bench percentiles)
        self.latency = Histogram(LATENCY_BUCKETS)  # the same, for /metrics

    def percentile(self, q: float) -> float | None:
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] if data else None


@dataclass(frozen=True)
class _Sent:
    """What the parent keeps of a batch until the writer reports it committed."""

    events: int
    received: tuple[float, ...]  # receipt times, for the latency figures
    effects: tuple[Effects, ...]  # their notifications leave after the commit; operators' commands are answered then
    segments: dict[int, int]  # journal segment → events of the batch it holds (let go once committed)
    answers: tuple[Pending, ...] = ()  # operators' commands applied in the batch


class PipelineWorker:
    def __init__(self, hold: Callable[[], ContextManager[Pipeline]], database_url: str,
                 notify: Callable[[Sequence[Notification]], None],
                 *, max_queue: int = 50_000, max_batch: int = 1_000, tick_every: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 journal: Journal | None = None) -> None:
        self._hold = hold  # the current generation, held for one batch (LiveConfig.held, Pipeline.held)
        self._notify = notify
        self.intake = IntakeQueue(journal, max_queue)
        self._refused: OrderedDict[str, None] = OrderedDict()  # events refused lately: counted once
        self._max_batch = max_batch
        self._tick_every = tick_every
        self._clock = clock
        self._lock = threading.Lock()
        self._inflight = 0  # accepted and not yet written
        self._stop = threading.Event()
        self._commands: deque[tuple[Command, Future[Answer]]] = deque()  # operators' acknowledges, resolves, silences
        self._undelivered: deque[Undelivered] = deque()  # firing notifications that finally failed (the notifier)
        self._unstored: deque[str] = deque()  # alerts the writer could not store: the view forgets them
        self._unstored_silences: deque[SilenceChange] = deque()  # silence changes not stored: the view undoes them
        self._thread = threading.Thread(target=self._process_loop, name="opsc-pipeline", daemon=True)
        self._writer = BatchWriter(database_url, self._written)
        self.stats = WorkerStats()

    # ---- intake (any thread) ---------------------------------------------------------------

    def submit(self, events: list[RawEvent], sync: bool = True) -> Written | None:
        """Accept events (durable on return when there is a journal), or Backpressure.
        `sync=False`: await `self.intake.durable(<the record returned>)` before acknowledging."""
        with self._lock:
            self._inflight += len(events)  # before they can be taken: drain() must wait for them
        try:
            written = self.intake.put(events, sync)
        except NotSynced:  # queued all the same: they are processed, only not acknowledged
            raise
        except Backpressure:
            with self._lock:
                self._inflight -= len(events)
                fresh = [e.event_id for e in events if e.event_id not in self._refused]
                self.stats.rejected += len(fresh)
                self._refused.update(dict.fromkeys(fresh))
                while len(self._refused) > _REFUSED_KEPT:
                    self._refused.popitem(last=False)
            raise
        with self._lock:
            for e in events:
                self.stats.events_in[e.connector] = self.stats.events_in.get(e.connector, 0) + 1
        return written

    def depth(self) -> int:
        return self.intake.depth()

    def command(self, command: Command) -> Future[Answer]:
        """An operator's acknowledge or resolve, or a silence created or ended; any thread. The
        Future's result is a CommandAnswer (SilenceAnswer) once the change is committed (or
        refused); CommandNotStored if the batch could not store it."""
        future: Future[Answer] = Future()
        self._commands.append((command, future))
        return future

    def notifications_failed(self, failed: Sequence[Undelivered]) -> None:
        """Firing notifications whose delivery finally failed, as (alert id, fingerprint,
        rule, channel, decided at), from the notifier; any thread. The stage thread takes
        them out of the view's throttles and resolve targets."""
        self._undelivered.extend(failed)

    def alive(self) -> bool:
        """The stage thread runs and a writer process is there (a dead one is being replaced)."""
        return self._thread.is_alive() and self._writer.alive()

    @property
    def writer_restarts(self) -> int:
        return self._writer.restarts

    @property
    def writer_pid(self) -> int | None:
        return self._writer.pid

    def start(self) -> None:
        self._writer.start()
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what was accepted, then stop."""
        self.drain(timeout)
        self._stop.set()
        self._thread.join(timeout)
        self._writer.close(timeout)

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
            batch, segments = self.intake.take(self._max_batch, 0.05)
            commands = _drain(self._commands)
            undelivered = _drain(self._undelivered)
            due = time.monotonic() >= next_tick
            if not batch and not due and not commands and not undelivered:
                continue
            if due:
                next_tick = time.monotonic() + self._tick_every
            started = time.perf_counter()
            with self._hold() as pipeline:  # the generation that takes a batch finishes it; freed after
                for failed in undelivered:
                    pipeline.state.untold(*failed)
                self._forget(pipeline, _drain(self._unstored))
                unstored_silences = _drain(self._unstored_silences)
                if unstored_silences:  # the view as it was before those commands
                    pipeline.state.apply(Effects(None, silences=tuple(undone(c) for c in unstored_silences)))
                effects, answers = self._run_commands(pipeline, commands)
                for event in batch:
                    try:
                        effects.append(pipeline.process(event))
                    except Exception:
                        self.stats.errors += 1
                        log.exception("event %s from %s could not be processed; kept as raw event",
                                      event.event_id, event.connector)
                if due:
                    effects.append(pipeline.tick(self._clock()))
                version_id = pipeline.view.version_id
            if batch or any(fx.changes or fx.decisions or fx.notifications or fx.silences for fx in effects):
                prepared = time.perf_counter()
                record = prepare_batch(self._kept(batch, effects), effects, version_id)
                self.stats.prepare_seconds += time.perf_counter() - prepared
                sent = _Sent(len(batch), tuple(e.received_at.timestamp() for e in batch), tuple(effects), segments,
                             tuple(answers))
                self.stats.process_seconds += time.perf_counter() - started
                self._writer.send(record, sent)  # waits while two batches are on their way
            else:
                self.stats.process_seconds += time.perf_counter() - started
            self.stats.processed += len(batch)

    def _run_commands(self, pipeline: Pipeline, commands: list[tuple[Command, Future[Answer]]]
                      ) -> tuple[list[Effects], list[Pending]]:
        """The batch's commands, before its events. Refused ones are answered now (nothing
        to write); applied ones once the batch is committed."""
        effects: list[Effects] = []
        applied: list[Pending] = []
        for command, future in commands:
            try:
                fx = pipeline.command(command, self._clock())
            except Exception as exc:  # one bad command never stops the pipeline
                log.exception("operator command %s failed", command)
                future.set_exception(CommandNotStored(f"the engine could not apply it: {exc}"))
                continue
            assert fx.answer is not None
            if fx.answer.outcome is Outcome.APPLIED:
                effects.append(fx)
                applied.append((future, fx.answer))
            else:
                future.set_result(fx.answer)
        return effects, applied

    @staticmethod
    def _forget(pipeline: Pipeline, alert_ids: list[str]) -> None:
        """The view only (nothing to store, nobody to tell): these alerts are not open."""
        for alert_id in alert_ids:
            alert = pipeline.state.by_id.get(alert_id)
            if alert is not None:
                pipeline.state.apply(Effects(None, external=(evolve(alert, status=Status.RESOLVED),)))
                log.error("alert %s (%s on %s) was not stored; the engine no longer holds it open",
                          alert_id, alert.alert_type, alert.device_name or alert.device_ip)

    @staticmethod
    def _kept(batch: list[RawEvent], effects: list[Effects]) -> list[RawEvent]:
        """The raw events to store: all but those their connector discards."""
        dropped = {id(fx.event) for fx in effects if fx.dropped}
        return [e for e in batch if id(e) not in dropped] if dropped else batch

    # ---- writer reports (the writer's reader thread) -----------------------------------------

    def _written(self, sent: _Sent, report: WriteReport) -> None:
        committed = time.time()
        self.stats.write_seconds += report.seconds
        self.stats.write_retries += report.retries
        self.stats.conflicts += len(report.conflicts)
        if report.raw_only:
            self.stats.errors += sent.events
        waited = [committed - at for at in sent.received]
        self.stats.latencies.extend(waited)
        for seconds in waited:
            self.stats.latency.observe(seconds)
        unstored = set(report.failed) | set(report.conflicts)
        if unstored:
            self._unstored.extend(sorted(unstored))
        self.intake.committed(sent.segments)
        self.stats.written += sent.events
        self.stats.batches += 1
        with self._lock:
            self._inflight -= sent.events
        notifications = [n for fx in sent.effects for n in fx.notifications if n.alert.id not in unstored]
        if notifications and not report.raw_only:
            self._notify(notifications)
        for future, answer in sent.answers:
            if isinstance(answer, SilenceAnswer):
                self._silence_written(future, answer, report)
            elif report.raw_only or answer.command.alert_id in unstored:
                future.set_exception(CommandNotStored("the change could not be stored; the server log says why"))
            else:
                future.set_result(answer)

    def _silence_written(self, future: Future[Answer], answer: SilenceAnswer, report: WriteReport) -> None:
        change = answer.change
        assert change is not None  # only applied commands wait for their batch
        if change.silence.id in report.failed_silences:
            self._unstored_silences.append(change)
            future.set_exception(CommandNotStored("the silence could not be stored; the server log says why"))
            return
        log.info("%s", change.describe())  # the operator's change, as the silences table keeps it
        future.set_result(answer)


def _drain(items: deque[T]) -> list[T]:
    out = []
    while items:
        out.append(items.popleft())
    return out
