"""What happened in a span, as replay needs it: the raw events the connectors handed over
and the operators' acknowledges and resolves, each streamed in time order with a
server-side cursor (a week of a busy site does not fit in memory, and need not)."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg

from ..model import HistoryAction, RawEvent
from .alerts import ENGINE

FETCH = 2_000  # rows per round trip of a server-side cursor
OPERATOR_ACTIONS = (HistoryAction.ACKNOWLEDGED, HistoryAction.RESOLVED)


@dataclass(frozen=True)
class OperatorAction:
    """An operator acknowledged or resolved the open alert with this fingerprint."""

    at: datetime
    fingerprint: str
    action: HistoryAction  # acknowledged | resolved
    actor: str | None
    note: str | None


def stream_raw_events(conn: psycopg.Connection, since: datetime | None, until: datetime | None) -> Iterator[RawEvent]:
    """Raw events received in [since, until), by receipt time (then id)."""
    with conn.transaction(), conn.cursor(name="opsc_history_events") as cur:
        cur.itersize = FETCH
        cur.execute(
            """
            SELECT event_id, connector, source_system, source_address, received_at, payload FROM raw_events
            WHERE (%(since)s::timestamptz IS NULL OR received_at >= %(since)s)
              AND (%(until)s::timestamptz IS NULL OR received_at < %(until)s)
            ORDER BY received_at, id
            """, {"since": since, "until": until})
        for row in cur:
            yield RawEvent(event_id=row[0], connector=row[1], source_system=row[2], source_address=row[3],
                           received_at=row[4], payload=row[5])


def stream_operator_actions(conn: psycopg.Connection, since: datetime | None,
                            until: datetime | None) -> Iterator[OperatorAction]:
    """Acknowledges and resolves by people (not the engine's clears) in [since, until), in order."""
    with conn.transaction(), conn.cursor(name="opsc_history_actions") as cur:
        cur.itersize = FETCH
        cur.execute(
            """
            SELECT h.created_at, a.fingerprint, h.action, COALESCE(h.user_name, h.user_id), h.notes
            FROM alert_history h JOIN alerts a ON a.id = h.alert_id
            WHERE h.action = ANY(%(actions)s)
              AND h.user_id IS DISTINCT FROM %(engine)s
              AND (%(since)s::timestamptz IS NULL OR h.created_at >= %(since)s)
              AND (%(until)s::timestamptz IS NULL OR h.created_at < %(until)s)
            ORDER BY h.created_at, h.id
            """, {"actions": [a.value for a in OPERATOR_ACTIONS], "engine": ENGINE.user_id, "since": since,
                  "until": until})
        for row in cur:
            yield OperatorAction(row[0], row[1], HistoryAction(row[2]), row[3], row[4])
