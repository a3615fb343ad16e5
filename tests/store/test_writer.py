"""The batch writer process: records are committed in order, exactly once, through a
child that dies; the child ends with its input; the URL never shows on a command line."""
from __future__ import annotations

import os
import signal
import threading
from datetime import datetime, timezone

import psutil
import psycopg

from opsconductor.engine.model import RawEvent
from opsconductor.engine.store.batch import prepare_batch
from opsconductor.engine.store.writer import BatchWriter

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def record(n: int):
    return prepare_batch([RawEvent(f"w-{n}", "traps", "snmp_trap", NOW, "10.0.0.1", {"n": n})], [], None)


class Reports:
    def __init__(self) -> None:
        self.tags: list = []
        self.done = threading.Condition()

    def __call__(self, tag, report) -> None:
        with self.done:
            self.tags.append((tag, report.raw_only))
            self.done.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        with self.done:
            assert self.done.wait_for(lambda: len(self.tags) >= count, timeout), self.tags


def stored(db_url: str) -> list[str]:
    with psycopg.connect(db_url) as conn:
        return [r[0] for r in conn.execute("SELECT event_id FROM raw_events ORDER BY id").fetchall()]


def test_records_are_committed_in_order_and_reported_with_their_tags(db_url: str) -> None:
    reports = Reports()
    writer = BatchWriter(db_url, reports)
    writer.start()
    try:
        for n in range(20):
            writer.send(record(n), tag=n)
        reports.wait_for(20)
    finally:
        assert writer.close() == 0
    assert reports.tags == [(n, False) for n in range(20)]
    assert stored(db_url) == [f"w-{n}" for n in range(20)]


def test_a_dead_writer_is_replaced_and_nothing_is_lost_or_doubled(db_url: str) -> None:
    reports = Reports()
    writer = BatchWriter(db_url, reports)
    writer.start()
    try:
        writer.send(record(0), tag=0)
        reports.wait_for(1)
        first = writer.pid
        os.kill(first, signal.SIGKILL)
        for n in range(1, 6):  # sent while the reader notices the death and starts another child
            writer.send(record(n), tag=n)
        reports.wait_for(6)
        assert writer.restarts == 1 and writer.pid != first and writer.alive()
    finally:
        writer.close()
    assert [tag for tag, _ in reports.tags] == list(range(6))
    assert stored(db_url) == [f"w-{n}" for n in range(6)]


def test_the_child_ends_with_its_input_and_keeps_the_url_off_its_command_line(db_url: str) -> None:
    writer = BatchWriter(db_url, Reports())
    writer.start()
    child = psutil.Process(writer.pid)
    assert not any(db_url in arg for arg in child.cmdline())
    assert child.ppid() == os.getpid()
    assert writer.close() == 0
    assert not writer.alive() and writer.returncode == 0  # ended by itself, not killed after the timeout


def test_the_child_ends_when_its_parent_is_killed(db_url: str) -> None:
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from opsconductor.engine.store.writer import BatchWriter\n"
        "w = BatchWriter(sys.argv[1], lambda tag, report: None)\n"
        "w.start()\n"
        "print(w.pid, flush=True)\n"
        "time.sleep(60)  # idles until the test kills it\n"), db_url], stdout=subprocess.PIPE, text=True)
    try:
        child = psutil.Process(int(parent.stdout.readline()))
        parent.kill()  # SIGKILL: no chance to close the pipe politely
        parent.wait(10)
        gone, _ = psutil.wait_procs([child], timeout=10)
        assert gone, "the writer outlived its parent"
    finally:
        parent.kill()
        parent.stdout.close()


def test_a_batch_sent_again_after_its_commit_is_not_written_twice(db_url: str) -> None:
    """What the parent does when a writer died between commit and report: the next writer
    gets the same record and finds its token."""
    from opsconductor.engine.store.writer import RecordWriter

    logged: list = []
    writer = RecordWriter(lambda: psycopg.connect(db_url), report_log=lambda level, msg: logged.append(msg))
    same = record(7)
    first, again = writer.write(same), writer.write(same)
    writer.close()
    assert (first.already_written, again.already_written) == (False, True)
    assert stored(db_url) == ["w-7"] and "not written twice" in logged[0]
