"""The notification outbox (migration 012): decisions to notify, written with the alert,
delivered from here.

Write side: `outbox_rows` formats a batch's notifications as COPY text (store/batch.py
copies it in the batch's transaction, like the rest); `add_pending` inserts directly
(tools, tests); both NOTIFY opsc_outbox. Read side, the notifier's: `read_pending` takes the rows after a sequence
number, oldest first, with their alerts (`read_window`: the same within a window of seqs,
so the reader goes past rows it leaves out; `read_channel`: one channel's, to catch up on rows
a read left out while the channel had no room); `read_due` takes parked rows whose next
attempt is due (migration 018); `settle` writes the attempts to notification_log, parks the
rows to be tried again later and removes the rows that are done, in one transaction, so
"who was told" never says less than what was delivered and a row is either pending or
logged. What a restart rebuilds throttles and resolve targets from
(notification_log.load_told) counts rows still pending here, parked ones too, as told.

Every read leaves out a row while an earlier row of its alert on its channel is parked, so
a resolve never overtakes its trigger, not even across a restart; and leaves out the rows of
the `closed` channels the caller names (at their in-flight quota, or down), except rows
created at or before a channel's cutoff (their retry window is over: they are read to be
failed).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

import psycopg
from psycopg.rows import dict_row

from ..ids import new_id
from ..model import StoredAlert
from .alerts import ALERT_COLUMNS, _alert_from_row
from .copytext import Row, copy_block, lines
from .notification_log import NotificationAttempt, payload_json

if TYPE_CHECKING:
    from ..pipeline.effects import Notification, NotificationKind

COPY_OUTBOX = "COPY notification_outbox (alert_id, id, rule_name, channel, kind, decided_at) FROM STDIN"
# Sent in every transaction that adds outbox rows: the notifier LISTENs and reads at the
# commit, straight from PostgreSQL (no hop through the engine process).
OUTBOX_CHANNEL = "opsc_outbox"
NOTIFY_OUTBOX = f"NOTIFY {OUTBOX_CHANNEL}"
_ALERT_SELECT = ", ".join(f"a.{c}" for c in ALERT_COLUMNS)


@dataclass(frozen=True)
class PendingRow:
    id: str
    seq: int
    rule_name: str
    channel: str
    kind: NotificationKind  # as the engine wrote it (migration 012 has no CHECK: tests/store/test_outbox_kinds.py)
    decided_at: datetime
    attempts: int
    alert: StoredAlert
    created_at: datetime | None = None  # when the row was written (the retry window counts from it)
    parked: bool = False  # read back after a failed delivery (next_attempt_at was set)


@dataclass(frozen=True)
class OutboxState:
    depth: int  # rows waiting
    oldest_seconds: float  # age of the oldest row (0 when empty)
    parked: int = 0  # rows waiting for a next attempt (migration 018)


@dataclass(frozen=True)
class Park:
    """A row to try again at `at` (settle sets next_attempt_at, and last_error when given)."""

    id: str
    at: datetime
    error: str | None = None  # None: the attempt's own error stays (the row's retrying attempt set it)


Closed = Mapping[str, datetime | None]  # channel → cutoff: rows created at or before it are read all the same


def outbox_rows(notifications: Iterable[Notification]) -> tuple[str, tuple[str, ...]]:
    """COPY text for notifications (rows start with the alert id, so a batch can leave out
    the rows of alerts it did not insert) and the ids given to them, in order."""
    rows: list[Row] = []
    ids: list[str] = []
    for n in notifications:
        oid = new_id()
        ids.append(oid)
        rows.append((n.alert.id, oid, n.rule[:255], n.channel[:50], n.kind, n.at))
    return lines(rows), tuple(ids)


def add_pending(conn: psycopg.Connection, notifications: Sequence[Notification]) -> tuple[str, ...]:
    """Insert notifications outside a batch (their alerts must be stored); returns their ids."""
    text, ids = outbox_rows(notifications)
    with conn.transaction(), conn.cursor() as cur:
        if text:
            with cur.copy(COPY_OUTBOX) as copy:
                copy.write(text)
            cur.execute(NOTIFY_OUTBOX)
    return ids


_COLUMNS = ("o.id AS outbox_id, o.seq, o.rule_name, o.channel, o.kind, o.decided_at, o.attempts, o.created_at,"
            " o.next_attempt_at")
# A row waits while an earlier row of its alert on its channel is parked (index of migration 018).
_NOT_BEHIND_PARKED = (" AND NOT EXISTS (SELECT 1 FROM notification_outbox p WHERE p.alert_id = o.alert_id"
                      " AND p.channel = o.channel AND p.seq < o.seq AND p.next_attempt_at IS NOT NULL)")
_NOT_CLOSED = (" AND NOT EXISTS (SELECT 1 FROM unnest(%(closed)s::text[], %(cutoffs)s::timestamptz[]) c(channel, cutoff)"
               " WHERE c.channel = o.channel AND (c.cutoff IS NULL OR o.created_at > c.cutoff))")


@dataclass(frozen=True)
class Window:
    """A main read: the rows taken from the next `window` rows by seq, and where that window
    ended (`upto`, None when the outbox had nothing past `after`). The caller goes on from
    `upto` even when the rows it left out were most of the window."""

    rows: list[PendingRow]
    upto: int | None
    full: bool  # the window had `window` rows: there may be more past it


def reading(conn: psycopg.Connection) -> AbstractContextManager[Any]:
    """Around reads: nothing on an autocommit connection (each SELECT is its own transaction;
    the notifier's is one, which saves a BEGIN and a COMMIT round trip a read), else a
    transaction, so a read never leaves one open behind it."""
    return nullcontext() if conn.autocommit else conn.transaction()


def read_pending(conn: psycopg.Connection, after_seq: int, limit: int, closed: Closed | None = None) -> list[PendingRow]:
    """New rows (never parked) after `after_seq`, oldest first, each with its alert as it is now."""
    return _read(conn, "o.seq > %(after)s AND o.next_attempt_at IS NULL", {"after": after_seq}, limit, closed)


def read_window(conn: psycopg.Connection, after_seq: int, limit: int, closed: Closed | None = None,
                window: int | None = None) -> Window:
    """The notifier's main read: new rows among the next `window` rows after `after_seq`
    (default: `limit`), oldest first, at most `limit`."""
    window = window or limit
    with reading(conn):  # runs at every commit that adds rows: no round trip it can do without
        row = conn.execute("SELECT max(seq), count(*) FROM (SELECT seq FROM notification_outbox WHERE seq > %s"
                           " ORDER BY seq LIMIT %s) w", (after_seq, window)).fetchone()
        upto, seen = (row[0], row[1]) if row else (None, 0)
        if upto is None:
            return Window([], None, False)
        rows = _read(conn, "o.seq > %(after)s AND o.seq <= %(upto)s AND o.next_attempt_at IS NULL",
                     {"after": after_seq, "upto": upto}, limit, closed, in_transaction=True)
    return Window(rows, upto, seen >= window)


def read_channel(conn: psycopg.Connection, channel: str, after_seq: int, upto_seq: int, limit: int) -> list[PendingRow]:
    """One channel's new rows in (after_seq, upto_seq], oldest first."""
    return _read(conn, "o.seq > %(after)s AND o.seq <= %(upto)s AND o.channel = %(channel)s"
                 " AND o.next_attempt_at IS NULL", {"after": after_seq, "upto": upto_seq, "channel": channel}, limit,
                 None)


def read_due(conn: psycopg.Connection, now: datetime, limit: int, closed: Closed | None = None) -> list[PendingRow]:
    """Parked rows whose next attempt is due at `now`, oldest first."""
    return _read(conn, "o.next_attempt_at <= %(now)s", {"now": now}, limit, closed)


def _read(conn: psycopg.Connection, where: str, params: dict[str, Any], limit: int, closed: Closed | None,
          in_transaction: bool = False) -> list[PendingRow]:
    params = {**params, "limit": limit}
    where += _NOT_BEHIND_PARKED
    if closed:
        where += _NOT_CLOSED
        params.update(closed=list(closed), cutoffs=list(closed.values()))
    # Not a transaction of its own inside the caller's (that would be a savepoint: two round trips more).
    with nullcontext() if in_transaction else reading(conn), conn.cursor(row_factory=dict_row) as cur:
        # The outbox's rows first (an index range scan on seq), then their alerts: joined
        # before the LIMIT, a planner working from stale statistics (tables that grew by
        # thousands of rows a second) sorted the whole join, on disk, taking seconds a read.
        rows = cur.execute(
            f"SELECT {_COLUMNS}, {_ALERT_SELECT}"
            f" FROM (SELECT * FROM notification_outbox o WHERE {where} ORDER BY o.seq LIMIT %(limit)s) o"
            " JOIN alerts a ON a.id = o.alert_id ORDER BY o.seq", params).fetchall()
    return [PendingRow(str(r["outbox_id"]), r["seq"], r["rule_name"], r["channel"], r["kind"], r["decided_at"],
                       r["attempts"], _alert_from_row(r), r["created_at"], r["next_attempt_at"] is not None)
            for r in rows]


def settle(conn: psycopg.Connection, attempts: Sequence[NotificationAttempt], done: Sequence[str],
           retried: Sequence[tuple[str, str]] = (), parked: Sequence[Park] = (),
           unparked: Sequence[str] = ()) -> int | None:
    """One transaction: the attempts into notification_log; for rows being retried (id,
    error) their attempt count and last error; the `unparked` rows (taken back into flight)
    due now; the `parked` ones waiting until their time; the `done` rows out of the outbox.
    Returns the lowest seq of a row that waited behind an unparked one (the reader goes
    back for it), or None."""
    behind = None
    with conn.transaction(), conn.cursor() as cur:
        append_attempts(cur, attempts)
        if retried:
            cur.execute("UPDATE notification_outbox o SET attempts = o.attempts + 1, last_error = v.error"
                        " FROM unnest(%s::uuid[], %s::text[]) AS v(id, error) WHERE o.id = v.id",
                        ([i for i, _ in retried], [e for _, e in retried]))
        if unparked:
            row = cur.execute(
                "WITH u AS (UPDATE notification_outbox SET next_attempt_at = NULL WHERE id = ANY(%s::uuid[])"
                "           RETURNING alert_id, channel, seq)"
                " SELECT min(o.seq) FROM u JOIN notification_outbox o"
                "   ON o.alert_id = u.alert_id AND o.channel = u.channel AND o.seq > u.seq", (list(unparked),)).fetchone()
            behind = row[0] if row else None
        if parked:
            cur.execute("UPDATE notification_outbox o SET next_attempt_at = v.at, last_error = COALESCE(v.error, o.last_error)"
                        " FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[]) AS v(id, at, error) WHERE o.id = v.id",
                        ([p.id for p in parked], [p.at for p in parked], [p.error for p in parked]))
        if done:
            cur.execute("DELETE FROM notification_outbox WHERE id = ANY(%s::uuid[])", (list(done),))
        # Open dashboards redraw (a failed page shows on the overview within a second).
        touched = ",".join(dict.fromkeys(str(a.alert_id) for a in attempts if a.alert_id))
        if len(touched) > 7900:  # NOTIFY's payload limit is 8000 bytes
            touched = touched[:7900].rsplit(",", 1)[0]
        if touched:
            cur.execute("SELECT pg_notify('opsc_alerts', %s)", (touched,))
    return behind


_STAGE_LOG = ("CREATE TEMP TABLE IF NOT EXISTS opsc_stage_log (alert_id uuid, rule_id uuid, rule_name text,"
              " channel text, recipient text, status text, error_message text, payload jsonb, sent_at timestamptz,"
              " response_time_ms int) ON COMMIT DELETE ROWS")


def append_attempts(cur: psycopg.Cursor, attempts: Sequence[NotificationAttempt]) -> None:
    """Attempts as notification_log rows: COPY into a staging table, then one INSERT that
    looks up each rule's id by name. (Array parameters were the first try: psycopg escapes
    every element of a text[] with a regular expression, half the notifier's database time.)"""
    if not attempts:
        return
    cur.execute(_STAGE_LOG)
    copy_block(cur, "COPY opsc_stage_log FROM STDIN", lines(
        (a.alert_id, a.rule_id, a.rule_name, a.channel, a.recipient, a.status, a.error_message,
         payload_json(a.payload), a.sent_at or datetime.now(timezone.utc), a.response_time_ms) for a in attempts))
    cur.execute(
        "INSERT INTO notification_log (alert_id, rule_id, rule_name, channel, recipient, status, error_message,"
        "                              payload, sent_at, response_time_ms)"
        " SELECT s.alert_id, COALESCE(s.rule_id, (SELECT r.id FROM notification_rules r WHERE r.name = s.rule_name"
        "                                          LIMIT 1)),"
        "        s.rule_name, s.channel, s.recipient, s.status, s.error_message, s.payload, s.sent_at,"
        "        s.response_time_ms"
        " FROM opsc_stage_log s")


def outbox_state(conn: psycopg.Connection) -> OutboxState:
    with reading(conn):
        row = conn.execute(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM NOW() - min(created_at)), 0),"
            " count(*) FILTER (WHERE next_attempt_at IS NOT NULL) FROM notification_outbox").fetchone()
    assert row is not None  # an aggregate: always one row
    depth, age, parked = row
    return OutboxState(int(depth), float(age), int(parked))

