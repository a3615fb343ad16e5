"""One pipeline batch → one transaction: raw events, new alerts, occurrences, engine
status changes and the decision trail, then NOTIFY so dashboards update live.

Two steps, so the writing can happen in another process (store/writer.py):
`prepare_batch` turns the stages' Effects into a BatchRecord of COPY text and plain
values (pure, picklable); `store_batch` writes a record in one transaction.

The hot path writes with COPY (PostgreSQL takes ~24,000 rows/s that way here, against
~2,200 with one insert per commit). New alerts are copied straight into alerts; if the
one-open-alert-per-fingerprint index refuses one (another process got there first), the
batch's alerts go again through a staging table that skips those rows: a conflict is
reported, never a failed batch.
"""
from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import psycopg

from ..model import RawEvent
from .alerts import ALERT_COLUMNS, ENGINE, alert_row
from .copytext import copy_block, first_fields, lines, text_array, without
from .jsonb import dumps
from .transitions import EngineChange, store_engine_changes

log = logging.getLogger("opsconductor.store")

NOTIFY_CHANNEL = "opsc_alerts"
_NOTIFY_MAX = 7900  # PostgreSQL's payload limit is 8000 bytes
_COLS = ", ".join(ALERT_COLUMNS)
_RAW_EVENTS = ("COPY raw_events (event_id, connector, source_system, source_address, received_at, payload,"
               " config_version_id) FROM STDIN")
_CREATED = "COPY alert_history (alert_id, action, new_status, user_id, user_name, changes) FROM STDIN"
_OCCURRED = "COPY alert_history (alert_id, action, user_id, user_name, changes) FROM STDIN"
_DECISIONS = "COPY alert_decisions (alert_id, stage, rule, config_version_id, detail) FROM STDIN"


@dataclass(frozen=True)
class BatchRecord:
    """A batch as the database will take it. Text fields are COPY text whose rows start
    with the alert id they belong to (so rows of a conflicting alert can be left out)."""

    raw_events: str = ""
    alerts: str = ""
    created_history: str = ""
    occurrences: tuple[tuple[str, int, datetime], ...] = ()  # (alert id, repeats in the batch, last at)
    changes: tuple[EngineChange, ...] = ()
    decisions: str = ""
    touched: tuple[str, ...] = ()  # alerts created, repeated or changed: the NOTIFY payload
    token: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))  # written once, however often sent

    def raw_only(self) -> "BatchRecord":
        """What is kept of a batch whose effects cannot be written: its raw events (replayable)."""
        return BatchRecord(raw_events=self.raw_events, token=self.token)


@dataclass(frozen=True)
class BatchResult:
    touched: tuple[str, ...] = ()  # alert ids created or changed
    conflicts: tuple[str, ...] = ()  # new alerts skipped: an open alert with that fingerprint existed
    closed: tuple[str, ...] = ()  # alerts repeated in the batch that were resolved meanwhile (by an operator)
    already_written: bool = False  # the batch's token was in: an earlier writer committed it


def write_batch(conn: psycopg.Connection, raw_events: Sequence[RawEvent], effects: Sequence,
                config_version_id: int | None) -> BatchResult:
    """Both steps in this process (tests, tools)."""
    return store_batch(conn, prepare_batch(raw_events, effects, config_version_id))


# ---- prepare: Effects → BatchRecord (pure) ---------------------------------------------------

def prepare_batch(raw_events: Sequence[RawEvent], effects: Sequence, config_version_id: int | None) -> BatchRecord:
    created = [a for fx in effects for a in fx.created]
    occurrences: dict[str, list] = {}
    for fx in effects:
        for a in fx.occurrences:
            entry = occurrences.get(a.id)
            if entry is None:
                occurrences[a.id] = [1, a.last_occurrence_at or a.received_at]
            else:
                entry[0] += 1
                entry[1] = a.last_occurrence_at or a.received_at
    changes = tuple(EngineChange(c.alert.id, c.action, c.old_status.value, c.alert.status.value,
                                 c.alert.correlated_to_id, c.alert.correlation_rule)
                    for fx in effects for c in fx.changes)
    payloads = {id(e.payload): dumps(e.payload) for e in raw_events}  # an alert's raw_data is its event's payload
    touched = dict.fromkeys(a.id for a in created)
    touched.update(dict.fromkeys(occurrences))
    touched.update(dict.fromkeys(c.alert_id for c in changes))
    return BatchRecord(
        raw_events=lines((e.event_id, e.connector, e.source_system, e.source_address, e.received_at,
                          payloads[id(e.payload)], config_version_id) for e in raw_events),
        alerts=lines(alert_row(a, a.id, text_array, dumps, payloads.get(id(a.raw_data))) for a in created),
        created_history=lines((a.id, "created", a.status.value, ENGINE.user_id, ENGINE.user_name,
                               dumps({"config_version_id": a.config_version_id, "connector": a.connector}))
                              for a in created),
        occurrences=tuple((alert_id, n, at) for alert_id, (n, at) in occurrences.items()),
        changes=changes,
        decisions=lines((d.alert_id, d.stage, d.rule[:255], d.config_version_id, dumps(d.detail))
                        for d in _one_dedup_per_alert([d for fx in effects for d in fx.decisions])),
        touched=tuple(touched),
    )


def _one_dedup_per_alert(decisions: list) -> list:
    """A storm repeats one alert hundreds of times a batch: its trail gets one 'dedup' row
    per batch (the last, with how many it stands for), as its history gets one
    'occurrence' row."""
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, d in enumerate(decisions):
        if d.rule == "dedup" and d.stage == "correlate":
            last[d.alert_id] = i
            count[d.alert_id] = count.get(d.alert_id, 0) + 1
    if len(last) == sum(count.values()):
        return decisions
    out = []
    for i, d in enumerate(decisions):
        if d.alert_id in last and d.rule == "dedup" and d.stage == "correlate":
            if last[d.alert_id] != i:
                continue
            if count[d.alert_id] > 1:
                d = replace(d, detail={**d.detail, "occurrences": count[d.alert_id]})
        out.append(d)
    return out


# ---- store: BatchRecord → one transaction ------------------------------------------------------

def store_batch(conn: psycopg.Connection, record: BatchRecord) -> BatchResult:
    with conn.transaction(), conn.cursor() as cur:
        if cur.execute("INSERT INTO written_batches (token) VALUES (%s) ON CONFLICT DO NOTHING",
                       (record.token,)).rowcount == 0:
            return BatchResult(record.touched, already_written=True)
        copy_block(cur, _RAW_EVENTS, record.raw_events)
        skip = _insert_alerts(cur, record)
        closed = _record_occurrences(cur, record.occurrences)
        store_engine_changes(cur, [c for c in record.changes if c.alert_id not in skip])
        # A closed alert's part of the batch did not happen to it: its trail says nothing of it.
        copy_block(cur, _DECISIONS, without(record.decisions, skip | set(closed)))
        touched = tuple(t for t in record.touched if t not in skip)
        if touched:
            payload = ",".join(touched)
            if len(payload) > _NOTIFY_MAX:
                payload = payload[:_NOTIFY_MAX].rsplit(",", 1)[0]
            cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))
    conflicts = [i for i in first_fields(record.alerts) if i in skip]
    if conflicts:
        log.warning("%d new alert(s) were already open in the database (another writer?): %s",
                    len(conflicts), ", ".join(conflicts[:5]))
    if closed:
        log.warning("%d alert(s) repeated in a batch had been resolved meanwhile: %s", len(closed),
                    ", ".join(closed[:5]))
    return BatchResult(touched, tuple(conflicts), tuple(closed))


def _insert_alerts(cur: psycopg.Cursor, record: BatchRecord) -> set[str]:
    """COPY straight into alerts; if an open alert with one of the fingerprints exists
    (another writer), redo through a staging table that skips those rows. Returns the
    ids of the alerts not inserted."""
    if not record.alerts:
        return set()
    try:
        with cur.connection.transaction():  # a savepoint: a conflict undoes only this COPY
            copy_block(cur, f"COPY alerts ({_COLS}) FROM STDIN", record.alerts)
        skip: set[str] = set()
    except psycopg.errors.UniqueViolation:
        skip = set(first_fields(record.alerts)) - _insert_skipping_conflicts(cur, record.alerts)
    copy_block(cur, _CREATED, without(record.created_history, skip))
    return skip


def _insert_skipping_conflicts(cur: psycopg.Cursor, alerts: str) -> set[str]:
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS opsc_stage_alerts (LIKE alerts INCLUDING DEFAULTS)"
                " ON COMMIT DELETE ROWS")
    cur.execute("TRUNCATE opsc_stage_alerts")
    copy_block(cur, f"COPY opsc_stage_alerts ({_COLS}) FROM STDIN", alerts)
    # One statement: a row linked to another row of the same batch passes the foreign key
    # check, which runs at the end of the statement.
    return {row[0] for row in cur.execute(
        f"INSERT INTO alerts ({_COLS}) SELECT {_COLS} FROM opsc_stage_alerts"
        " ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO NOTHING RETURNING id::text").fetchall()}


def _record_occurrences(cur: psycopg.Cursor, occurrences: Sequence[tuple[str, int, datetime]]) -> list[str]:
    """One UPDATE and one history row per alert per batch, however often it repeated.
    Returns the alerts that were not counted: resolved meanwhile (an operator, another
    process), so the repeats are not part of them."""
    if not occurrences:
        return []
    repeats = {alert_id: n for alert_id, n, _ in occurrences}
    rows = cur.execute(
        """
        UPDATE alerts a SET occurrence_count = a.occurrence_count + v.n,
               last_occurrence_at = GREATEST(COALESCE(a.last_occurrence_at, a.occurred_at), v.at)
        FROM unnest(%s::uuid[], %s::int[], %s::timestamptz[]) AS v(id, n, at)
        WHERE a.id = v.id AND a.status <> 'resolved'
        RETURNING a.id::text, a.occurrence_count
        """, ([o[0] for o in occurrences], [o[1] for o in occurrences], [o[2] for o in occurrences])).fetchall()
    copy_block(cur, _OCCURRED, lines((alert_id, "occurrence", ENGINE.user_id, ENGINE.user_name,
                                      dumps({"occurrences": repeats[alert_id], "occurrence_count": total}))
                                     for alert_id, total in rows))
    counted = {alert_id for alert_id, _ in rows}
    return [alert_id for alert_id, _, _ in occurrences if alert_id not in counted]
