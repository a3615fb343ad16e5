"""The intake journal: a write-ahead log of accepted raw events, so that what the engine
acknowledged (a webhook's 2xx, a trap inform's response) survives a kill -9.

Files: `DIR/<segment>.journal`, numbered in order. A record is one `append` (a webhook
request, a trap receiver's read batch): an 8-byte header (payload length, CRC-32) and the
pickled events. `write` appends a record under a lock; `sync` makes it durable with
`fdatasync` in groups: whoever syncs first syncs every record written so far, and the
callers behind it find their record already synced (group commit: one fsync for many
concurrent requests, ~7 ms each on the development machine). `synced` is the same for
an event loop: the request awaits a future, and one syncer thread syncs everything
written by then and resolves every future waiting on it in one call to the loop (a
webhook does not hop to a thread of its own to wait for the disk). A segment grows to
`segment_bytes`, is synced and left for the next; once every event written in it is
committed to PostgreSQL (`done`), it is deleted.

Recovery (`recover`): the segments a previous process left are read in order, a torn
last record (a crash in the middle of a write) is cut off. The engine runs those events
again; the raw events already committed (found by event_id) are skipped, so a replay
is a no-op for what was stored and never a duplicate alert.

`read(position)` gives records back from the files: when the memory queue is full (a
database outage), accepted events live only here and the pipeline reads them back in
order (intake/queue.py).

One engine per journal directory: an exclusive lock (`flock` on DIR/lock) refuses a second.
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pickle
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import OpscError
from ..model import RawEvent

log = logging.getLogger("opsconductor.journal")

HEADER = struct.Struct("<II")  # payload length, CRC-32 of the payload
SEGMENT_BYTES = 64 * 1024 * 1024
MAX_BYTES = 2 * 1024 * 1024 * 1024  # beyond this the intake refuses (HTTP 503) rather than fill the disk
_SUFFIX = ".journal"


class JournalError(OpscError):
    """The journal cannot take this record (full, or the disk refused the write)."""


@dataclass(frozen=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True)
class Written:
    """Where a record went: its segment and the position after it; `seq` orders syncs."""

    segment: int
    start: Position
    end: Position
    seq: int


class _Segment:
    __slots__ = ("number", "path", "fd", "size", "appended", "done", "first_at")

    def __init__(self, number: int, path: Path, fd: int):
        self.number, self.path, self.fd = number, path, fd
        self.size = 0
        self.appended = 0  # events written into it
        self.done = 0  # of which committed
        self.first_at: float | None = None  # monotonic time of its first event not yet committed


def encode(events: Sequence[RawEvent]) -> bytes:
    """One record: events as plain tuples (pickles ~3x faster than dataclass instances)."""
    payload = pickle.dumps([(e.event_id, e.connector, e.source_system, e.received_at, e.source_address,
                             e.payload) for e in events], protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> list[RawEvent]:
    return [RawEvent(*fields) for fields in pickle.loads(payload)]


def read_records(path: Path, offset: int = 0, limit: int | None = None,
                 end: int | None = None) -> Iterator[tuple[list[RawEvent], int]]:
    """Records of one file from `offset` (up to byte `end`): (events, offset after the record).
    Stops at the end or at a torn / corrupt record (a crash in the middle of a write)."""
    with open(path, "rb") as f:
        f.seek(offset)
        count = 0
        while limit is None or count < limit:
            header = f.read(HEADER.size)
            if len(header) < HEADER.size:
                return
            length, crc = HEADER.unpack(header)
            if end is not None and offset + HEADER.size + length > end:
                return
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                log.warning("journal %s: a torn or corrupt record at byte %d is cut off", path, offset)
                return
            at, offset = offset, offset + HEADER.size + length
            try:
                events = decode(payload)
            except Exception as exc:  # intact but unreadable (another version of us?): say so, go on
                log.error("journal %s: the record at byte %d cannot be read (%s: %s); skipped", path, at,
                          type(exc).__name__, exc)
                continue
            count += 1
            yield events, offset


class Journal:
    def __init__(self, directory: Path, *, segment_bytes: int = SEGMENT_BYTES, max_bytes: int = MAX_BYTES,
                 clock=time.monotonic):
        self.directory = Path(directory)
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()  # segments, sizes, counts; held for os.write, never for fsync
        self._sync_lock = threading.Lock()  # one fsync at a time; the others wait and find theirs done
        self._segments: dict[int, _Segment] = {}
        self._current: _Segment | None = None
        self._seq = 0  # records written
        self._synced = 0  # records known durable
        self._bytes = 0
        self._lock_fd: int | None = None
        self._recovered: list[Path] = []
        self.syncs = 0  # fdatasync calls, for the figures (records / syncs = the group size)
        self._awaiting: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future]] = []  # (seq, loop, future)
        self._syncer: threading.Thread | None = None
        self._syncer_wake = threading.Condition(threading.Lock())

    # ---- life cycle ------------------------------------------------------------------------

    def open(self) -> list[Path]:
        """Take the directory; returns the segments a previous process left (to recover)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the intake journal {self.directory}: {exc.strerror or exc}; the engine"
                               " needs a writable OPSC_DATA_DIR") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(f"the intake journal {self.directory} is in use by another engine process; "
                               "give each engine its own OPSC_DATA_DIR") from None
        self._lock_fd = fd
        self._recovered = sorted(self.directory.glob("*" + _SUFFIX))
        first = int(self._recovered[-1].stem) + 1 if self._recovered else 1
        with self._lock:
            self._start_segment(first)
        return list(self._recovered)

    def recover(self) -> Iterator[list[RawEvent]]:
        """The events the previous process journaled, record by record, in order."""
        for path in self._recovered:
            for events, _ in read_records(path):
                yield events

    def discard_recovered(self) -> None:
        """The recovered events are in the new segments (or stored): the old files go."""
        for path in self._recovered:
            path.unlink(missing_ok=True)
        self._recovered = []
        _sync_dir(self.directory)

    def close(self) -> None:
        """Stop writing; segments whose events are all committed go, the others stay for the next start."""
        with self._sync_lock, self._lock:
            for seg in list(self._segments.values()):
                os.close(seg.fd)
                if seg.done >= seg.appended:
                    seg.path.unlink(missing_ok=True)
                else:
                    log.warning("journal %s keeps %d event(s) not committed; they are run at the next start",
                                seg.path, seg.appended - seg.done)
            self._segments.clear()
            self._current = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---- writing -----------------------------------------------------------------------------

    def write(self, record: bytes, events: int) -> Written:
        """Append one encoded record (not yet durable: `sync`). Any thread."""
        gone: list[_Segment] = []
        try:
            with self._lock:
                return self._write(record, events, gone)
        finally:
            self._release(gone)

    def _write(self, record: bytes, events: int, gone: list) -> Written:
        seg = self._current
        if seg is None:
            raise JournalError("the intake journal is closed")
        if self._bytes + len(record) > self._max_bytes:
            raise JournalError(f"the intake journal is full ({self._bytes} bytes of {self._max_bytes})")
        try:
            if seg.size and seg.size + len(record) > self._segment_bytes:
                os.fdatasync(seg.fd)  # its records are durable before any goes to the next file
                old, seg = seg, self._start_segment(seg.number + 1)
                _sync_dir(self.directory)
                if old.done >= old.appended:  # all committed already: nobody calls done() for it again
                    self._forget(old, gone)
            start = Position(seg.number, seg.size)
            _write_all(seg.fd, record)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(seg.fd, seg.size)  # no torn record in the middle of the file
            raise JournalError(f"the intake journal cannot write to {seg.path}: {exc.strerror or exc}") from exc
        seg.size += len(record)
        self._bytes += len(record)
        if seg.appended == seg.done:
            seg.first_at = self._clock()
        seg.appended += events
        self._seq += 1
        return Written(seg.number, start, Position(seg.number, seg.size), self._seq)

    def sync(self, written: Written) -> None:
        """Return once the record is on disk: one fdatasync for everything written so far."""
        self._sync_through(written.seq)

    def _sync_through(self, seq: int) -> None:
        if self._synced >= seq:
            return
        with self._sync_lock:
            if self._synced >= seq:
                return  # another caller's sync took ours along
            with self._lock:
                target, fd = self._seq, self._current.fd if self._current else None
            if fd is not None:
                os.fdatasync(fd)  # older segments were synced when the next one started
                self.syncs += 1
            self._synced = target

    async def synced(self, written: Written) -> None:
        """`sync` for a coroutine: returns once the record is on disk (OSError if the sync
        failed), without a thread of its own: the syncer thread syncs for every waiter."""
        if self._synced >= written.seq:
            return
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._syncer_wake:
            self._awaiting.append((written.seq, loop, future))
            if self._syncer is None:
                self._syncer = threading.Thread(target=self._sync_for_waiters, name="opsc-journal-sync", daemon=True)
                self._syncer.start()
            self._syncer_wake.notify()
        await future

    def _sync_for_waiters(self) -> None:
        """The syncer thread: one fdatasync for everything written when it starts, then every
        future it covered resolved, one call per event loop."""
        while True:
            with self._syncer_wake:
                while not self._awaiting:
                    self._syncer_wake.wait()
                waiting, self._awaiting = self._awaiting, []
            error: OSError | None = None
            try:
                self._sync_through(max(seq for seq, _, _ in waiting))
            except OSError as exc:
                error = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
            for _, loop, future in waiting:
                by_loop.setdefault(loop, []).append(future)
            for loop, futures in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(_resolve, futures, error)

    def append(self, events: Sequence[RawEvent]) -> Written:
        written = self.write(encode(events), len(events))
        self.sync(written)
        return written

    def _start_segment(self, number: int) -> _Segment:
        path = self.directory / f"{number:012d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        seg = _Segment(number, path, fd)
        self._segments[number] = seg
        self._current = seg
        return seg

    # ---- reading back (spooled events) --------------------------------------------------------

    def end(self) -> Position:
        with self._lock:
            seg = self._current
            return Position(seg.number, seg.size) if seg else Position(0, 0)

    def read(self, position: Position, limit: int) -> tuple[list[tuple[list[RawEvent], int]], Position]:
        """Up to `limit` records from `position`, with their segment; and the position after them."""
        out: list[tuple[list[RawEvent], int]] = []
        while len(out) < limit:
            with self._lock:
                current = self._current.number if self._current else 0
                seg = self._segments.get(position.segment)
                if seg is None or position.offset >= seg.size:
                    if position.segment >= current:
                        break  # caught up with the writing
                    position = Position(position.segment + 1, 0)
                    continue
                path, size = seg.path, seg.size
            before = len(out)
            for events, offset in read_records(path, position.offset, limit - len(out), end=size):
                out.append((events, position.segment))
                position = Position(position.segment, offset)
            if len(out) == before:  # a corrupt record: what follows in this file cannot be framed
                position = Position(position.segment, size)
        return out, position

    # ---- committed ------------------------------------------------------------------------------

    def done(self, counts: dict[int, int]) -> None:
        """These events (per segment) are committed; a segment left behind with all its events
        committed is deleted."""
        gone: list[_Segment] = []
        with self._lock:
            now = self._clock()
            for number, n in counts.items():
                seg = self._segments.get(number)
                if seg is None:
                    continue
                seg.done += n
                seg.first_at = now if seg.done < seg.appended else None  # progress: the wait starts again
                if seg.done >= seg.appended and seg is not self._current:
                    self._forget(seg, gone)
        self._release(gone)

    def _forget(self, seg: _Segment, gone: list) -> None:
        """(self._lock held) The segment is done with; its file goes in _release."""
        del self._segments[seg.number]
        self._bytes -= seg.size
        gone.append(seg)

    def _release(self, gone: list) -> None:
        if gone:
            with self._sync_lock:  # never close a descriptor an fsync is using
                for seg in gone:
                    os.close(seg.fd)
                    seg.path.unlink(missing_ok=True)

    def pending(self) -> tuple[int, float]:
        """Events written and not yet committed, and for how long the oldest segment holding
        some has made no progress (seconds)."""
        with self._lock:
            now = self._clock()
            waiting = [s for s in self._segments.values() if s.appended > s.done]
            count = sum(s.appended - s.done for s in waiting)
            since = min((s.first_at for s in waiting if s.first_at is not None), default=now)
        return count, now - since

    @property
    def size(self) -> int:
        return self._bytes


def _resolve(futures: list[asyncio.Future], error: OSError | None) -> None:
    for future in futures:
        if not future.done():  # a cancelled waiter (its client went away)
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
