"""Raw events: every event a connector handed over, kept for replay and diagnosis.

Written by the engine's batches (store/batch.py) with whatever the events decided, and
alone when that cannot be written, so input that fails to normalize is not lost.
Kept for a retention period; purge_raw_events deletes in bounded batches so a large
purge never holds one long transaction against the inserting connectors.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

import psycopg

from ..model import RawEvent

PURGE_BATCH = 10_000


@dataclass(frozen=True)
class StoredRawEvent:
    id: int
    event: RawEvent
    config_version_id: int | None


def list_raw_events(
    conn: psycopg.Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    connector: str | None = None,
    after_id: int | None = None,
    limit: int = 1000,
) -> list[StoredRawEvent]:
    """Events received in [since, until), oldest first, for replay.

    Page with after_id = the last id of the previous page.
    """
    rows = _select(
        conn,
        """
        SELECT id, event_id, connector, source_system, source_address, received_at, payload, config_version_id
        FROM raw_events
        WHERE (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
          AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)
          AND (%(connector)s::text IS NULL OR connector = %(connector)s)
          AND (%(after_id)s::bigint IS NULL OR id > %(after_id)s)
        ORDER BY id
        LIMIT %(limit)s
        """,
        {"since": since, "until": until, "connector": connector, "after_id": after_id, "limit": limit},
    )
    return [
        StoredRawEvent(
            id=r[0],
            event=RawEvent(event_id=r[1], connector=r[2], source_system=r[3], source_address=r[4],
                           received_at=r[5], payload=r[6]),  # fmt: skip
            config_version_id=r[7],
        )
        for r in rows
    ]


def purge_raw_events(conn: psycopg.Connection, older_than: timedelta, *, batch: int = PURGE_BATCH) -> int:
    """Delete events received more than `older_than` ago; returns how many were deleted."""
    total = 0
    while True:
        with conn.transaction():
            deleted = conn.execute(
                """
                DELETE FROM raw_events WHERE id IN (
                    SELECT id FROM raw_events WHERE received_at < NOW() - %s LIMIT %s)
                """,
                (older_than, batch),
            ).rowcount
        total += deleted
        if deleted < batch:
            return total


def _select(conn: psycopg.Connection, query: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    with conn.transaction():
        return conn.execute(query, params).fetchall()
