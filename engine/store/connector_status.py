"""Runtime status of connectors: the columns of `connectors` the config never writes.

The projection (projection.py) owns name/type/enabled/config; this module owns status,
error_message, last_poll_at, last_success_at and the alert counters, which therefore
survive a config reload. alerts_today counts one day: the day is stored beside it
(alerts_today_date) and the first count on a later day starts again from zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

import psycopg


class ConnectorStatus(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILING = "failing"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ConnectorRuntime:
    name: str
    type: str
    enabled: bool
    status: ConnectorStatus
    error_message: str | None
    last_poll_at: datetime | None
    last_success_at: datetime | None
    alerts_received: int
    alerts_today: int  # already 0 when the stored count is from an earlier day


def set_status(
    conn: psycopg.Connection,
    name: str,
    status: ConnectorStatus,
    *,
    error_message: str | None = None,
    polled_at: datetime | None = None,
    succeeded_at: datetime | None = None,
) -> bool:
    """Record a connector's state after a poll (or a listener's health check).

    error_message is replaced (None clears it); the timestamps are only moved when
    given. False when no connector has this name (removed from the config meanwhile).
    """
    with conn.transaction():
        cur = conn.execute(
            """
            UPDATE connectors SET status = %s, error_message = %s,
                last_poll_at = COALESCE(%s, last_poll_at),
                last_success_at = COALESCE(%s, last_success_at),
                updated_at = NOW()
            WHERE name = %s
            """,
            (ConnectorStatus(status).value, error_message, polled_at, succeeded_at, name),
        )
    return cur.rowcount == 1


def count_alerts(conn: psycopg.Connection, name: str, n: int = 1, *, today: date | None = None) -> bool:
    """Add n to alerts_received and to alerts_today (restarting it on a new day).

    `today` defaults to the server's current_date (in the session's TimeZone).
    """
    with conn.transaction():
        cur = conn.execute(
            """
            UPDATE connectors SET
                alerts_received = COALESCE(alerts_received, 0) + %(n)s,
                alerts_today = CASE WHEN alerts_today_date = COALESCE(%(today)s, CURRENT_DATE)
                                    THEN COALESCE(alerts_today, 0) + %(n)s ELSE %(n)s END,
                alerts_today_date = COALESCE(%(today)s, CURRENT_DATE)
            WHERE name = %(name)s
            """,
            {"n": n, "today": today, "name": name},
        )
    return cur.rowcount == 1


def list_runtime(conn: psycopg.Connection, *, today: date | None = None) -> list[ConnectorRuntime]:
    """Every connector with its runtime state, by name."""
    with conn.transaction():
        rows = conn.execute(
            """
            SELECT name, type, COALESCE(enabled, FALSE), COALESCE(status, 'unknown'), error_message,
                   last_poll_at, last_success_at, COALESCE(alerts_received, 0),
                   CASE WHEN alerts_today_date = COALESCE(%s::date, CURRENT_DATE)
                        THEN COALESCE(alerts_today, 0) ELSE 0 END
            FROM connectors ORDER BY name
            """,
            (today,),
        ).fetchall()
    return [ConnectorRuntime(r[0], r[1], r[2], ConnectorStatus(r[3]), *r[4:]) for r in rows]
