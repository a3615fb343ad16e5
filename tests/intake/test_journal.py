"""The intake journal and queue on real files: durable appends in groups, recovery with a
torn tail, segments let go once committed, spooling beyond memory in order, the cap."""
from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from opsconductor.engine.connectors.base import Backpressure
from opsconductor.engine.intake.journal import Journal, JournalError
from opsconductor.engine.intake.queue import IntakeQueue
from opsconductor.engine.model import RawEvent

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def events(n: int, start: int = 0) -> list[RawEvent]:
    return [RawEvent(f"e{i}", "hook", "webhook", T0 + timedelta(seconds=i), None,
                     {"fields": {"alert_type": "x", "n": i}, "text": "ünï\x00\n"}) for i in range(start, start + n)]


def ids(items: list[RawEvent]) -> list[str]:
    return [e.event_id for e in items]


def test_appended_events_come_back_after_a_crash_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.append(events(3))
    journal.append(events(2, 3))
    # no close(): as after kill -9; then half a record, as a crash in the middle of a write leaves
    (segment,) = sorted(tmp_path.glob("*.journal"))
    with open(segment, "ab") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00abc")
    journal._lock_fd and __import__("os").close(journal._lock_fd)  # the dead process's lock goes with it
    again = Journal(tmp_path)
    assert again.open() == [segment]
    recovered = [e for record in again.recover() for e in record]
    assert recovered == events(5)  # equal values, payload and times included
    again.discard_recovered()
    assert not segment.exists()
    again.close()


def test_a_second_engine_cannot_take_the_journal(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.open()
    with pytest.raises(JournalError, match="in use by another engine"):
        Journal(tmp_path).open()
    first.close()
    Journal(tmp_path).open()


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    barrier = threading.Barrier(16)

    def client(k: int) -> None:
        barrier.wait()
        for i in range(20):
            journal.append(events(1, k * 100 + i))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.syncs < 320  # 320 records; callers found theirs synced by another's fsync
    assert journal.pending()[0] == 320
    journal.close()


def test_requests_on_an_event_loop_share_fsyncs_without_a_thread_each(tmp_path: Path) -> None:
    queue = IntakeQueue(Journal(tmp_path))
    queue.journal.open()
    threads_before = threading.active_count()

    async def request(k: int) -> None:
        written = queue.put(events(1, k), sync=False)
        await queue.durable(written)

    async def main() -> None:
        await asyncio.gather(*(request(k) for k in range(200)))

    asyncio.run(main())
    assert threading.active_count() <= threads_before + 1  # the journal's one syncer thread
    assert 1 <= queue.journal.syncs < 200  # 200 records, waiting together
    taken, _ = queue.take(500, 0)
    assert ids(taken) == ids(events(200))
    queue.journal.close()


def test_segments_go_once_their_events_are_committed(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=300)
    journal.open()
    written = [journal.append(events(1, i)) for i in range(6)]
    segments = sorted({w.segment for w in written})
    assert len(segments) >= 3 and len(list(tmp_path.glob("*.journal"))) == len(segments)
    journal.done({segments[0]: sum(1 for w in written if w.segment == segments[0])})
    assert len(list(tmp_path.glob("*.journal"))) == len(segments) - 1
    journal.done({s: sum(1 for w in written if w.segment == s) for s in segments[1:]})
    assert len(list(tmp_path.glob("*.journal"))) == 1  # the one being written stays
    assert journal.pending()[0] == 0
    journal.close()
    assert list(tmp_path.glob("*.journal")) == []


def test_a_segment_committed_before_the_next_one_starts_goes_too(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=300)
    journal.open()
    for i in range(12):  # each committed at once, as batches are when PostgreSQL keeps up
        written = journal.append(events(1, i))
        journal.done({written.segment: 1})
    assert len(list(tmp_path.glob("*.journal"))) == 1 and journal.size < 300
    journal.close()


def test_the_queue_spools_beyond_memory_and_reads_back_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=2_000)
    journal.open()
    queue = IntakeQueue(journal, max_memory=10)
    for k in range(8):
        queue.put(events(5, k * 5))  # 40 accepted: 10 in memory, 30 only in the journal
    assert queue.spooled == 30 and queue.depth() == 40
    taken: list[RawEvent] = []
    late = False
    for _ in range(40):  # bounded: each take gets at least one event
        batch, segments = queue.take(7, 0.01)
        if not batch:
            break
        taken += batch
        queue.committed(segments)
        if len(taken) >= 20 and not late:
            late = True
            queue.put(events(5, 100))  # while spooling: behind the spooled ones, not before
    assert ids(taken) == ids(events(40)) + ids(events(5, 100))
    assert queue.spooled == 0 and queue.depth() == 0
    queue.put(events(1, 200))  # caught up: memory again
    assert queue.spooled == 0 and ids(queue.take(10, 0.01)[0]) == ["e200"]
    journal.close()


def test_a_full_journal_refuses_with_backpressure(tmp_path: Path) -> None:
    journal = Journal(tmp_path, max_bytes=2_000)
    journal.open()
    queue = IntakeQueue(journal, max_memory=1_000)
    queue.put(events(5))
    with pytest.raises(Backpressure, match="journal is full"):
        for k in range(1, 20):
            queue.put(events(5, k * 5))
    journal.close()


def test_without_a_journal_a_full_queue_refuses(tmp_path: Path) -> None:
    queue = IntakeQueue(None, max_memory=5)
    queue.put(events(5))
    with pytest.raises(Backpressure, match="queue full"):
        queue.put(events(1, 5))
    assert queue.depth() == 5


def test_a_journal_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(JournalError, match="cannot open the intake journal .*file/journal"):
        Journal(tmp_path / "file" / "journal").open()
