"""One pipeline batch → one transaction: raw events, new alerts, occurrences, engine
status changes, the decision trail and the notifications to send (the outbox), then
NOTIFY so dashboards update live (and opsc_outbox, so the notifier reads at the commit).

Two steps, so the writing can happen in another process (store/writer.py):
`prepare_batch` turns the stages' Effects into a BatchRecord of COPY text and plain
values (pure, picklable); `store_batch` writes a record in one transaction.

The hot path writes with COPY (PostgreSQL takes ~24,000 rows/s that way here, against
~2,200 with one insert per commit). New alerts are copied straight into alerts; if the
one-open-alert-per-fingerprint index refuses one (another process got there first), the
batch's alerts go again through a staging table that skips those rows: a conflict is
reported, never a failed batch.

Rows land in their final state, in order. One batch may open, clear and open again one
fingerprint (a flapping link): its new alerts are inserted as they are at the end of the
batch (the first one already resolved) with their history rows in order, so the
one-open-alert-per-fingerprint index holds. Changes of alerts stored before go in two
steps: those that resolve them before the new alerts (a clear frees its fingerprint for
the problem after it), the others after (they may link to a new root).

A data error should not happen (normalize makes values storable). If one does, the writer
writes the batch again alert by alert (`isolate=True`), each in a savepoint: the alerts
that cannot be stored are reported (the engine forgets them), the raw events and every
other alert of the batch are kept.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import psycopg

from ..events import Decision, Deduplicated
from ..ids import new_id
from ..model import Alert, HistoryAction, RawEvent, Status
from .alerts import ALERT_COLUMNS, ENGINE, NOTIFY_CHANNEL, alert_row
from .copytext import Row, copy_block, first_fields, lines, only, text_array, without
from .jsonb import dumps
from .outbox import COPY_OUTBOX, NOTIFY_OUTBOX, OUTBOX_CHANNEL, outbox_rows
from . import silences
from .silences import SilenceAction, SilenceWrite
from .transitions import HISTORY_COPY, ROW_ONLY, EngineChange, history_row, store_engine_changes

if TYPE_CHECKING:
    from ..pipeline.effects import Effects

log = logging.getLogger("opsconductor.store")

OPEN_FINGERPRINT = "alerts_one_open_per_fingerprint"  # migration 003: one open alert per fingerprint
_NOTIFY_MAX = 7900  # PostgreSQL's payload limit is 8000 bytes
_COLS = ", ".join(ALERT_COLUMNS)
_RAW_EVENTS = ("COPY raw_events (event_id, connector, source_system, source_address, received_at, payload,"
               " config_version_id) FROM STDIN")
_OCCURRED = "COPY alert_history (alert_id, action, user_id, user_name, changes) FROM STDIN"
_DECISIONS = "COPY alert_decisions (alert_id, stage, rule, config_version_id, detail) FROM STDIN"


@dataclass(frozen=True)
class BatchRecord:
    """A batch as the database will take it. Text fields are COPY text whose rows start
    with the alert id they belong to (so rows of one alert can be left out or picked)."""

    raw_events: str = ""
    alerts: str = ""  # the batch's new alerts, as they are at its end
    new_history: str = ""  # their history rows (HISTORY_COPY columns), in order
    created: tuple[str, ...] = ()  # the new alerts' ids, in order
    resolved_new: tuple[str, ...] = ()  # new alerts already resolved at the batch's end
    occurrences: tuple[tuple[str, int, datetime, str], ...] = ()  # alerts stored before: (id, repeats, last at, severity)
    changes: tuple[EngineChange, ...] = ()  # of alerts stored before
    decisions: str = ""
    touched: tuple[str, ...] = ()  # alerts created, repeated or changed: the NOTIFY payload
    outbox: str = ""  # the decisions to notify, one row per notification per channel (store/outbox.py)
    silences: tuple[SilenceWrite, ...] = ()  # ad-hoc silences operators created or ended (pipeline/silencing.py)
    token: str = dataclasses.field(default_factory=new_id)  # written once, however often sent

    def raw_only(self) -> "BatchRecord":
        """What is kept of a batch whose effects cannot be written: its raw events (replayable),
        and its silences (written apart from the alerts, each in a savepoint)."""
        return BatchRecord(raw_events=self.raw_events, silences=self.silences, token=self.token)

    def only(self, ids: set[str]) -> "BatchRecord":
        """The effects on these alerts alone (no raw events): one unit of an isolated write."""
        return BatchRecord(alerts=only(self.alerts, ids), new_history=only(self.new_history, ids),
                           created=tuple(i for i in self.created if i in ids),
                           resolved_new=tuple(i for i in self.resolved_new if i in ids),
                           occurrences=tuple(o for o in self.occurrences if o[0] in ids),
                           changes=tuple(c for c in self.changes if c.alert_id in ids),
                           decisions=only(self.decisions, ids), touched=tuple(i for i in self.touched if i in ids),
                           outbox=only(self.outbox, ids), token=self.token)


@dataclass(frozen=True)
class BatchResult:
    touched: tuple[str, ...] = ()  # alert ids created or changed
    conflicts: tuple[str, ...] = ()  # new alerts skipped: an open alert with that fingerprint existed
    already_written: bool = False  # the batch's token was in: an earlier writer committed it
    failed: tuple[str, ...] = ()  # alerts whose rows a data error kept out (isolated write)
    failure: str = ""  # the first such error
    failed_silences: tuple[int, ...] = ()  # silences a data error kept out (isolated write)


def write_batch(conn: psycopg.Connection, raw_events: Sequence[RawEvent], effects: Sequence[Effects],
                config_version_id: int | None) -> BatchResult:
    """Both steps in this process (tests, tools)."""
    return store_batch(conn, prepare_batch(raw_events, effects, config_version_id))


# ---- prepare: Effects → BatchRecord (pure) ---------------------------------------------------

def prepare_batch(raw_events: Sequence[RawEvent], effects: Sequence[Effects], config_version_id: int | None) -> BatchRecord:
    final: dict[str, Alert] = {}  # new alerts, as they are at the end of the batch
    history: dict[str, list[Row]] = {}  # new alerts' history rows, in order
    repeats: dict[str, int] = {}  # new alerts' repeats: one 'occurrence' row each
    occurrences: dict[str, list[Any]] = {}  # alerts stored before: [repeats, last at, severity]
    changes: list[EngineChange] = []  # of alerts stored before
    touched: dict[str, None] = {}
    for fx in effects:
        for a in fx.created:
            final[a.id] = a
            history[a.id] = [(a.id, "created", None, a.status.value, ENGINE.user_id, ENGINE.user_name,
                              dumps({"config_version_id": a.config_version_id, "connector": a.connector}), None)]
            touched[a.id] = None
        for a in fx.occurrences:
            touched[a.id] = None
            if a.id in final:
                final[a.id] = a
                repeats[a.id] = repeats.get(a.id, 0) + 1
                continue
            entry = occurrences.get(a.id)
            if entry is None:
                occurrences[a.id] = [1, a.last_occurrence_at or a.received_at, a.severity.value]
            else:
                entry[0] += 1
                entry[1] = a.last_occurrence_at or a.received_at
                entry[2] = a.severity.value  # a repeat may raise or lower it
        for c in fx.changes:
            by = c.command  # an operator's: who, and the note
            action = c.action.value if isinstance(c.action, HistoryAction) else c.action  # plain values cross
            change = EngineChange(c.alert.id, action, c.old_status.value, c.alert.status.value,
                                  c.alert.correlated_to_id, c.alert.correlation_rule,
                                  dumps(c.alert.custom_fields) if "flapping" in c.alert.custom_fields else None,
                                  *((by.user_id, by.user_name, by.note) if by is not None else ()))
            touched[c.alert.id] = None
            if c.alert.id in final:
                final[c.alert.id] = c.alert
                if c.alert.id in repeats:  # the repeats so far come before the change in its history
                    history[c.alert.id].append(_occurrence_row(c.alert.id, repeats.pop(c.alert.id),
                                                               c.alert.occurrence_count))
                if change.action not in ROW_ONLY:
                    history[c.alert.id].append(history_row(change))
            else:
                changes.append(change)
    for alert_id, n in repeats.items():
        history[alert_id].append(_occurrence_row(alert_id, n, final[alert_id].occurrence_count))
    payloads = {id(e.payload): dumps(e.payload) for e in raw_events}  # an alert's raw_data is its event's payload
    return BatchRecord(
        raw_events=lines((e.event_id, e.connector, e.source_system, e.source_address, e.received_at,
                          payloads[id(e.payload)], config_version_id) for e in raw_events),
        alerts=lines(alert_row(a, a.id, text_array, dumps, payloads.get(id(a.raw_data))) for a in final.values()),
        new_history=lines(row for rows in history.values() for row in rows),
        created=tuple(final),
        resolved_new=tuple(i for i, a in final.items() if a.status is Status.RESOLVED),
        occurrences=tuple((alert_id, n, at, severity) for alert_id, (n, at, severity) in occurrences.items()),
        changes=tuple(changes),
        decisions=lines((d.alert_id, d.detail.STAGE, d.rule[:255], d.config_version_id, dumps(d.detail.encode()))
                        for d in _one_dedup_per_alert([d for fx in effects for d in fx.decisions])),
        touched=tuple(touched),
        outbox=outbox_rows(n for fx in effects for n in fx.notifications)[0],
        silences=tuple(SilenceWrite(c.action is SilenceAction.CREATED, c.silence) for fx in effects for c in fx.silences),
    )


def _occurrence_row(alert_id: str, repeats: int, total: int) -> Row:
    return (alert_id, "occurrence", None, None, ENGINE.user_id, ENGINE.user_name,
            dumps({"occurrences": repeats, "occurrence_count": total}), None)


def _one_dedup_per_alert(decisions: list[Decision]) -> list[Decision]:
    """A storm repeats one alert hundreds of times a batch: its trail gets one 'dedup' row
    per batch (the last, with how many it stands for), as its history gets one
    'occurrence' row."""
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, d in enumerate(decisions):
        if type(d.detail) is Deduplicated:
            last[d.alert_id] = i
            count[d.alert_id] = count.get(d.alert_id, 0) + 1
    if len(last) == sum(count.values()):
        return decisions
    out = []
    for i, d in enumerate(decisions):
        if d.alert_id in last and type(d.detail) is Deduplicated:
            if last[d.alert_id] != i:
                continue
            if count[d.alert_id] > 1:
                d = replace(d, detail=replace(d.detail, occurrences=count[d.alert_id]))
        out.append(d)
    return out


# ---- store: BatchRecord → one transaction ------------------------------------------------------

def store_batch(conn: psycopg.Connection, record: BatchRecord, *, isolate: bool = False) -> BatchResult:
    """Write a record in one transaction; `isolate`: each alert's rows in a savepoint of
    their own, so a data error keeps out that alert only."""
    try:
        return _store_batch(conn, record, isolate, Conflicts.SAVEPOINT if isolate else Conflicts.RAISE)
    except psycopg.errors.UniqueViolation as exc:
        if isolate or exc.diag.constraint_name != OPEN_FINGERPRINT:
            raise
        # An open alert in the database has a new alert's fingerprint (another writer): the
        # batch again, its new alerts through the staging table that leaves those out.
        return _store_batch(conn, record, isolate, Conflicts.SKIP)


class Conflicts(Enum):
    """What inserting new alerts does about an open alert of the same fingerprint already
    stored. RAISE: nothing (the common case, no savepoint: two round trips fewer a batch);
    the transaction fails and store_batch writes it again with SKIP. SKIP: through a
    staging table, ON CONFLICT DO NOTHING. SAVEPOINT: COPY in a savepoint, SKIP if it fails
    (alert by alert, where a savepoint is there anyway)."""

    RAISE = "raise"
    SKIP = "skip"
    SAVEPOINT = "savepoint"


def _store_batch(conn: psycopg.Connection, record: BatchRecord, isolate: bool, conflicts: Conflicts) -> BatchResult:
    failed: list[str] = []
    failure = ""
    with conn.transaction(), conn.cursor() as cur:
        if cur.execute("INSERT INTO written_batches (token) VALUES (%s) ON CONFLICT DO NOTHING",
                       (record.token,)).rowcount == 0:
            return BatchResult(record.touched, already_written=True)
        copy_block(cur, _RAW_EVENTS, record.raw_events)
        failed_silences = silences.write(cur, record.silences, isolate=isolate)
        if len(failed_silences) < len(record.silences):
            cur.execute("SELECT pg_notify(%s, 'silences')", (NOTIFY_CHANNEL,))  # open pages redraw
        if isolate:
            skip, failed, failure = _write_alert_by_alert(cur, record)
        else:
            skip = _write_effects(cur, record, conflicts)
        left_out = skip | set(failed)
        touched = tuple(t for t in record.touched if t not in left_out)
        payload = ",".join(touched)
        if len(payload) > _NOTIFY_MAX:
            payload = payload[:_NOTIFY_MAX].rsplit(",", 1)[0]
        # Dashboards redraw what changed; the notifier reads the outbox at the commit. One
        # statement for both: a round trip is a tenth of a small batch's write.
        if payload and record.outbox:
            cur.execute("SELECT pg_notify(%s, %s), pg_notify(%s, '')", (NOTIFY_CHANNEL, payload, OUTBOX_CHANNEL))
        elif payload:
            cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))
        elif record.outbox:
            cur.execute(NOTIFY_OUTBOX)
    clashed = [i for i in record.created if i in skip]
    if clashed:
        log.warning("%d new alert(s) were already open in the database (another writer?): %s",
                    len(clashed), ", ".join(clashed[:5]))
    return BatchResult(touched, tuple(clashed), failed=tuple(failed), failure=failure,
                       failed_silences=tuple(failed_silences))


def _write_effects(cur: psycopg.Cursor, record: BatchRecord, conflicts: Conflicts = Conflicts.SAVEPOINT) -> set[str]:
    """Occurrences, the changes that resolve stored alerts, the new alerts, the other
    changes, the trail. Returns the new alerts skipped (conflicts)."""
    _record_occurrences(cur, record.occurrences)
    first, later = _split_changes(record.changes, set(record.created))
    store_engine_changes(cur, first)
    skip = _insert_alerts(cur, record, conflicts)
    store_engine_changes(cur, later)
    copy_block(cur, _DECISIONS, without(record.decisions, skip))
    copy_block(cur, COPY_OUTBOX, without(record.outbox, skip))  # the notifier delivers from here
    return skip


def _split_changes(changes: Sequence[EngineChange], new: set[str]) -> tuple[list[EngineChange], list[EngineChange]]:
    """Stored alerts that end the batch resolved (and linked to no new alert) go before the
    new alerts, so a clear frees its fingerprint for the problem after it; the others after,
    as they may link to a new alert. One alert's changes stay together, in order."""
    last = {c.alert_id: c for c in changes}
    early = {i for i, c in last.items() if c.new_status == Status.RESOLVED.value and c.correlated_to_id not in new}
    return [c for c in changes if c.alert_id in early], [c for c in changes if c.alert_id not in early]


def _write_alert_by_alert(cur: psycopg.Cursor, record: BatchRecord) -> tuple[set[str], list[str], str]:
    """Each alert's rows in a savepoint. An alert linked to another of the batch may need
    that one first: the failed ones are tried again while a round makes progress."""
    units = list(dict.fromkeys([*record.created, *record.touched, *first_fields(record.decisions)]))
    skip: set[str] = set()
    errors: dict[str, str] = {}
    while units:
        failed = []
        for alert_id in units:
            try:
                with cur.connection.transaction():
                    s = _write_effects(cur, record.only({alert_id}))
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                failed.append(alert_id)
                errors[alert_id] = f"{type(exc).__name__}: {exc}".strip()
                continue
            skip |= s
        if len(failed) == len(units):
            break
        units = failed
    return skip, units, errors[units[0]] if units else ""


def _insert_alerts(cur: psycopg.Cursor, record: BatchRecord, conflicts: Conflicts) -> set[str]:
    """COPY straight into alerts; with an open alert of one of the fingerprints stored
    (another writer), as `conflicts` says. Returns the ids of the alerts not inserted."""
    if not record.alerts:
        return set()
    skip: set[str] = set()
    if conflicts is Conflicts.SKIP:
        skip = set(record.created) - _insert_skipping_conflicts(cur, record.alerts)
    elif conflicts is Conflicts.RAISE:
        copy_block(cur, f"COPY alerts ({_COLS}) FROM STDIN", record.alerts)
    else:
        try:
            with cur.connection.transaction():  # a savepoint: a conflict undoes only this COPY
                copy_block(cur, f"COPY alerts ({_COLS}) FROM STDIN", record.alerts)
        except psycopg.errors.UniqueViolation:
            skip = set(record.created) - _insert_skipping_conflicts(cur, record.alerts)
    resolved = [i for i in record.resolved_new if i not in skip]
    if resolved:  # resolved within the batch: alert_row has no resolved_at / resolved_by
        cur.execute("UPDATE alerts SET resolved_at = NOW(), resolved_by = %s WHERE id = ANY(%s::uuid[])",
                    (ENGINE.label, resolved))
    copy_block(cur, HISTORY_COPY, without(record.new_history, skip))
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


def _record_occurrences(cur: psycopg.Cursor, occurrences: Sequence[tuple[str, int, datetime, str]]) -> None:
    """One UPDATE and one history row per alert per batch, however often it repeated (the
    severity is the last repeat's: an escalation or de-escalation is stored)."""
    if not occurrences:
        return
    repeats = {o[0]: o[1] for o in occurrences}
    rows = cur.execute(
        """
        UPDATE alerts a SET occurrence_count = a.occurrence_count + v.n,
               last_occurrence_at = GREATEST(COALESCE(a.last_occurrence_at, a.occurred_at), v.at),
               severity = v.severity
        FROM unnest(%s::uuid[], %s::int[], %s::timestamptz[], %s::text[]) AS v(id, n, at, severity)
        WHERE a.id = v.id AND a.status <> 'resolved'
        RETURNING a.id::text, a.occurrence_count
        """, ([o[0] for o in occurrences], [o[1] for o in occurrences], [o[2] for o in occurrences],
              [o[3] for o in occurrences])).fetchall()
    copy_block(cur, _OCCURRED, lines((alert_id, "occurrence", ENGINE.user_id, ENGINE.user_name,
                                      dumps({"occurrences": repeats[alert_id], "occurrence_count": total}))
                                     for alert_id, total in rows))
