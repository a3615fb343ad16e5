"""Ad-hoc silences (migration 013): created from the dashboard or the API, kept in the
database beside the YAML ones, ending by themselves at ends_at. Deleting one ends it
now and keeps the row (who ended it)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

import psycopg
from psycopg.rows import dict_row

from ..pipeline.silences import StoredSilence
from .jsonb import jsonb

__all__ = ["StoredSilence", "create", "end", "live", "recent"]


_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, created_at, deleted_at, deleted_by"


def create(conn: psycopg.Connection, matchers: Mapping[str, Any], starts_at: datetime, ends_at: datetime,
           created_by: str, comment: str) -> StoredSilence:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"INSERT INTO silences (matchers, starts_at, ends_at, created_by, comment)"
                          f" VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                          (jsonb(dict(matchers)), starts_at, ends_at, created_by[:255], comment)).fetchone()
    assert row is not None  # INSERT … RETURNING
    return StoredSilence(**row)


def end(conn: psycopg.Connection, silence_id: int, by: str) -> StoredSilence | None:
    """End a silence now (None when there is no such silence, or it had already ended)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"UPDATE silences SET deleted_at = now(), deleted_by = %s, ends_at = greatest(starts_at"
                          f" + interval '1 microsecond', least(ends_at, now())) WHERE id = %s AND deleted_at IS NULL"
                          f" AND ends_at > now() RETURNING {_COLUMNS}", (by[:255], silence_id)).fetchone()
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
