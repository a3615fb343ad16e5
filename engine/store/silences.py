"""Ad-hoc silences (migration 013): created from the dashboard or the API, kept in the
database beside the YAML ones, ending by themselves at ends_at. Ending one early keeps the
row (who ended it, when).

The engine is their only writer: an operator's silence is a command it applies
(pipeline/silencing.py) and writes in a batch's transaction (store/batch.py, `write`). Here
too are the reads: what the engine loads at start and the silences page lists.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from ..pipeline.silences import SilenceAction, StoredSilence
from .jsonb import jsonb

__all__ = ["SilenceAction", "SilenceWrite", "StoredSilence", "get", "live", "recent", "reserve_id", "write"]


_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, deleted_at, deleted_by"
_WHO = 255  # created_by, deleted_by: VARCHAR(255)


@dataclass(frozen=True)
class SilenceWrite:
    """One silence row to write, as plain values (it crosses into the writer process)."""

    created: bool  # a new silence (INSERT); else one ended (UPDATE)
    silence: StoredSilence  # as it is after the change


def reserve_id(conn: psycopg.Connection) -> int:
    """A new silence's number, from the table's identity sequence: reserved before the
    engine applies the command, so the view names it (adhoc-<id>) before the row is written."""
    row = conn.execute("SELECT nextval(pg_get_serial_sequence('silences', 'id'))").fetchone()
    assert row is not None  # nextval answers one row
    return int(row[0])


def write(cur: psycopg.Cursor, writes: Sequence[SilenceWrite], *, isolate: bool = False) -> list[int]:
    """Write the batch's silence changes, in order. `isolate`: each in a savepoint; returns the
    ids of those a data error kept out (never otherwise: the error is raised)."""
    failed = []
    for w in writes:
        if not isolate:
            _write_one(cur, w)
            continue
        try:
            with cur.connection.transaction():
                _write_one(cur, w)
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            failed.append(w.silence.id)
    return failed


def _write_one(cur: psycopg.Cursor, w: SilenceWrite) -> None:
    s = w.silence
    if w.created:  # the id is the engine's (reserve_id): the identity column takes it as given
        cur.execute("INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at)"
                    " OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (s.id, jsonb(dict(s.matchers)), s.starts_at, s.ends_at, s.created_by[:_WHO], s.comment,
                     s.created_at))
    else:
        cur.execute("UPDATE silences SET ends_at = %s, deleted_at = %s, deleted_by = %s WHERE id = %s",
                    (s.ends_at, s.deleted_at, (s.deleted_by or "")[:_WHO], s.id))


def get(conn: psycopg.Connection, silence_id: int) -> StoredSilence | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {_COLUMNS} FROM silences WHERE id = %s", (silence_id,)).fetchone()
    return StoredSilence(**row) if row else None


def live(conn: psycopg.Connection, now: datetime | None = None) -> list[StoredSilence]:
    """Silences not ended at `now` (default: the database's clock): holding now or starting
    later (what the engine matches with)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM silences WHERE deleted_at IS NULL"
                           " AND ends_at > coalesce(%s, now()) ORDER BY starts_at, id", (now,)).fetchall()
    return [StoredSilence(**r) for r in rows]


def recent(conn: psycopg.Connection, limit: int = 20) -> list[StoredSilence]:
    """Silences that ended (expired or deleted), newest first: what the page lists as history."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {_COLUMNS} FROM silences WHERE deleted_at IS NOT NULL OR ends_at <= now()"
                           " ORDER BY ends_at DESC, id DESC LIMIT %s", (limit,)).fetchall()
    return [StoredSilence(**r) for r in rows]
