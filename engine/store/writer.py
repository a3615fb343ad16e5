"""The batch writer: a child process that writes BatchRecords to PostgreSQL, in order.

Why a process and not a thread: the stages keep one core busy holding the GIL, and a
writer thread has to win the GIL back after every round trip to PostgreSQL (many per
batch). Measured here, that contention made two threads slower than one. The child
holds no GIL of ours: the stage thread formats the COPY text (store/batch.prepare_batch),
pickles it down a pipe, and goes on with the next batch while the child and PostgreSQL
use the other core.

Protocol (pickle frames over the child's stdin/stdout; both ends are ours):
    parent → child   ("url", database_url)  first, never on the command line (ps shows that)
                     ("batch", seq, BatchRecord)
    child → parent   ("done", seq, WriteReport)
                     ("log", level, message)
The child exits at end of input, or when its parent is gone. If it dies, the parent
starts another and sends again every batch not reported done; a batch's token, stored in
its own transaction (table written_batches), makes a batch that was committed just
before the death a no-op the second time.

A write is retried until it is written: connection problems for ever (PostgreSQL
restarting must lose nothing). An error in the data itself is isolated: the batch is
written again alert by alert, and the alerts that cannot be stored are reported
(`failed`; the engine forgets them) while the raw events and the other alerts are kept.
Should even that fail three times in a row, only the raw events are kept (replayable)
rather than stalling every later batch.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

import psycopg

from ..frames import end_child, receive, send
from .batch import BatchRecord, store_batch

log = logging.getLogger("opsconductor.writer")

DATA_ERROR_TRIES = 3
MAX_DELAY = 10.0
PRUNE_EVERY = 1_000  # batches between deletions of old written_batches tokens


@dataclass(frozen=True)
class WriteReport:
    conflicts: tuple[str, ...] = ()
    seconds: float = 0.0  # from the first try to the commit
    retries: int = 0
    raw_only: bool = False  # the effects could not be written; the raw events were
    already_written: bool = False  # sent again after a writer died, and found committed
    failed: tuple[str, ...] = ()  # alerts a data error kept out (the batch was written alert by alert)
    failed_silences: tuple[int, ...] = ()  # silences a data error kept out (each written in a savepoint)


class RecordWriter:
    """Writes one record after another on one connection, reopened as needed. The child
    process runs this; tests call it directly."""

    def __init__(self, connect: Callable[[], psycopg.Connection], *,
                 report_log: Callable[[int, str], None] = log.log,
                 sleep: Callable[[float], None] = time.sleep, give_up: Callable[[], bool] = lambda: False):
        self._connect = connect
        self._log = report_log
        self._sleep = sleep
        self._give_up = give_up  # checked between retries: the parent is gone
        self._conn: psycopg.Connection | None = None
        self._written = 0

    def write(self, record: BatchRecord) -> WriteReport:
        started = time.perf_counter()
        delay, retries, data_errors = 0.1, 0, 0
        while True:
            raw_only = data_errors >= DATA_ERROR_TRIES
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                result = store_batch(self._conn, record.raw_only() if raw_only else record, isolate=data_errors > 0)
                self._written += 1
                if self._written % PRUNE_EVERY == 0:
                    with self._conn.transaction():
                        self._conn.execute("DELETE FROM written_batches WHERE written_at < NOW() - INTERVAL '1 day'")
                if result.already_written:
                    self._log(logging.WARNING, "a batch sent again after a writer restart was already written;"
                                               " not written twice")
                if raw_only:
                    self._log(logging.CRITICAL, f"a batch's effects could not be written {DATA_ERROR_TRIES} times;"
                                                " its raw events were kept, its alerts were not stored")
                if result.failed:
                    self._log(logging.CRITICAL, f"{len(result.failed)} alert(s) of a batch could not be stored"
                                                f" ({result.failure}); the batch's raw events and other alerts were:"
                                                f" {', '.join(result.failed[:5])}")
                if result.failed_silences:
                    self._log(logging.CRITICAL, f"silence(s) {', '.join(map(str, result.failed_silences))} could"
                                                " not be stored; the engine no longer holds them as changed")
                return WriteReport(result.conflicts, time.perf_counter() - started, retries, raw_only,
                                   result.already_written, result.failed, result.failed_silences)
            except psycopg.Error as exc:
                retries += 1
                self.close()
                if self._give_up():
                    raise
                if not isinstance(exc, psycopg.OperationalError):
                    data_errors += 1
                self._log(logging.ERROR, f"writing a batch failed ({exc}); retrying in {delay:.1f}s"
                                         + (" alert by alert" if data_errors == 1 else ""))
                self._sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# ---- parent side ---------------------------------------------------------------------------------

Tag = TypeVar("Tag")  # what the caller keeps with a record until it is reported


class BatchWriter(Generic[Tag]):
    """Sends records to the child in order; `on_done(tag, report)` runs in a reader thread
    once a record is committed (`tag` is what the caller gave with the record). At most
    `max_pending` records are in flight: `send` blocks beyond that, which is the
    back-pressure the stage thread passes on."""

    def __init__(self, database_url: str, on_done: Callable[[Tag, WriteReport], None], *, max_pending: int = 2):
        self._url = database_url
        self._on_done = on_done
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pending: OrderedDict[int, tuple[BatchRecord, Tag]] = OrderedDict()
        self._pending_lock = threading.Lock()  # held briefly, never during I/O: the reader needs it
        self._io_lock = threading.Lock()  # the child handle and writes to its stdin
        self._seq = 0
        self._closing = False
        self._child: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self.restarts = 0

    def start(self) -> None:
        with self._io_lock:
            self._spawn()

    def send(self, record: BatchRecord, tag: Tag) -> None:
        self._slots.acquire()
        with self._io_lock:
            self._seq += 1
            with self._pending_lock:
                self._pending[self._seq] = (record, tag)
            child = self._child
            assert child is not None and child.stdin is not None  # start() made it, with pipes
            try:
                send(child.stdin, ("batch", self._seq, record))
            except (BrokenPipeError, OSError):
                pass  # the child died; the reader starts another and sends _pending again

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    @property
    def returncode(self) -> int | None:
        """The child's exit code once it ended (negative: killed by that signal)."""
        child = self._child
        return child.returncode if child is not None else None

    def alive(self) -> bool:
        child = self._child
        return child is not None and child.poll() is None

    def close(self, timeout: float = 30.0) -> int:
        """End the child after what it has; returns how many records were left unwritten."""
        with self._io_lock:
            self._closing = True
            child = self._child
        if child is None:
            return 0
        end_child(child, timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        with self._pending_lock:
            left = len(self._pending)
        if left:
            log.critical("%d batch(es) were not written at shutdown (PostgreSQL unreachable?)", left)
        return left

    def _spawn(self) -> None:
        """Start a child, then send it the url and every record not yet done (_io_lock held).
        Its reader starts first: a child whose reports nobody reads would stop reading us."""
        child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 start_new_session=True)  # Ctrl-C reaches the parent only; it stops the child
        assert child.stdin is not None and child.stdout is not None  # stdin=PIPE, stdout=PIPE
        self._child = child
        log.info("batch writer process started (pid %d)", child.pid)
        self._reader = threading.Thread(target=self._read, args=(child,), name="opsc-writer-reader", daemon=True)
        self._reader.start()
        with self._pending_lock:
            again = [(seq, record) for seq, (record, _) in self._pending.items()]
        try:
            send(child.stdin, ("url", self._url))
            for seq, record in again:
                send(child.stdin, ("batch", seq, record))
        except (BrokenPipeError, OSError):
            pass  # died already: its reader starts the next one

    def _read(self, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None  # stdout=PIPE
        for frame in receive(child.stdout, "the batch writer process", child.kill):
            if frame[0] == "log":
                log.log(frame[1], "%s", frame[2])
                continue
            _, seq, report = frame
            with self._pending_lock:
                _, tag = self._pending.pop(seq)
            self._slots.release()
            self._on_done(tag, report)
        child.wait()
        if not self._closing:
            time.sleep(0.5)  # a child that dies at once must not make this spin
        with self._io_lock:
            if self._closing:
                return
            self.restarts += 1
            log.error("the batch writer process ended (exit code %s); starting another, %d batch(es) to send again",
                      child.returncode, len(self._pending))
            self._spawn()


# ---- child side ----------------------------------------------------------------------------------

# Held (shared) by every writer's connection for its life. A new engine takes it exclusively
# before replaying its journal: a writer orphaned by a kill -9 may still be committing a
# batch, and an event replayed before that commit would be stored twice.
WRITER_LOCK = 0x6F707363_77726974  # "opscwrit"


def connect_writer(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock_shared(%s)", (WRITER_LOCK,))
    conn.autocommit = False
    return conn


def wait_for_orphan_writers(conn: psycopg.Connection, timeout_s: int = 60) -> bool:
    """Wait until no writer of an earlier process holds its connection (they end once they
    see their parent gone, after the batch at hand). False when one is still there."""
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{int(timeout_s)}s'")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
        return True
    except psycopg.errors.LockNotAvailable:
        return False


def child_main() -> None:
    # The parent decides when the writer ends: Ctrl-C, or a service manager's SIGTERM to
    # every process of the service, must not drop batches the parent is still draining.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    frames_in, frames_out = sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # nothing but frames goes down the pipe
    parent = os.getppid()
    out_lock = threading.Lock()

    def emit(frame: tuple[object, ...]) -> None:
        with out_lock:
            send(frames_out, frame)

    frames = receive(frames_in, "the engine")
    kind, url = next(frames)
    assert kind == "url"
    writer = RecordWriter(lambda: connect_writer(url), report_log=lambda level, msg: emit(("log", level, msg)),
                          give_up=lambda: os.getppid() != parent)
    try:
        for _, seq, record in frames:
            emit(("done", seq, writer.write(record)))
    except (BrokenPipeError, psycopg.Error):
        return  # the parent is gone
    finally:
        writer.close()


if __name__ == "__main__":
    # Run the copy of this module imported under its own name, so the reports pickle as
    # opsconductor.engine.store.writer.WriteReport, not __main__.WriteReport.
    from opsconductor.engine.store.writer import child_main as main

    main()
