"""At start: run again what the previous process journaled and did not commit.

A journaled event whose raw event is in the database was committed with its batch's
effects (one transaction): it is skipped, so a replay never makes a duplicate alert or
page. The others go through the intake again (journaled anew, in order), then the old
segment files go. An event the previous process had processed but not committed is
processed as if for the first time: the open alerts were rebuilt from the database,
which does not have its effects either.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

import psycopg

from ..model import RawEvent
from .journal import Journal

log = logging.getLogger("opsconductor.intake")

CHUNK = 5_000  # events looked up and resubmitted at a time


def journal_directory(data_dir: Path, conn: psycopg.Connection) -> Path:
    """One journal per database: a journal replayed into another database would invent
    alerts there (tests and tools start engines on many databases from one data dir)."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
            assert row is not None  # one row, always
            cluster = str(row[0])
    except psycopg.Error:  # not allowed to read it: the server's address stands in
        cluster = f"{conn.info.host}:{conn.info.port}"
    database = conn.execute("SELECT oid, datname FROM pg_database WHERE datname = current_database()").fetchone()
    assert database is not None  # the database we are connected to
    oid, name = database
    key = hashlib.sha256(f"{cluster}/{oid}/{name}".encode()).hexdigest()[:12]
    return data_dir / "journal" / f"{name}-{key}"


def not_stored(conn: psycopg.Connection, events: list[RawEvent]) -> list[RawEvent]:
    """The events whose raw event is not in the database (looked up within their time span,
    which the received_at index serves)."""
    if not events:
        return []
    stored = {row[0] for row in conn.execute(
        "SELECT event_id FROM raw_events WHERE received_at BETWEEN %s AND %s AND event_id = ANY(%s)",
        (min(e.received_at for e in events), max(e.received_at for e in events),
         [e.event_id for e in events])).fetchall()}
    return [e for e in events if e.event_id not in stored]


def replay_journal(journal: Journal, connect: Callable[[], psycopg.Connection],
                   submit: Callable[[list[RawEvent]], object]) -> tuple[int, int]:
    """Resubmit what was not committed; returns (events run again, events found stored)."""
    again = stored = 0
    pending: list[RawEvent] = []
    seen: set[str] = set()  # killed between resubmitting and discarding: an event is in two segments

    def flush() -> None:
        nonlocal again, stored
        todo = not_stored(conn, pending)
        stored += len(pending) - len(todo)
        if todo:
            submit(todo)
        again += len(todo)
        pending.clear()

    with connect() as conn:
        for events in journal.recover():
            pending.extend(e for e in events if e.event_id not in seen)
            seen.update(e.event_id for e in events)
            if len(pending) >= CHUNK:
                flush()
        flush()
    journal.discard_recovered()
    if again or stored:
        log.warning("intake journal: %d event(s) accepted before the last stop were not committed and run again;"
                    " %d were already stored", again, stored)
    return again, stored
