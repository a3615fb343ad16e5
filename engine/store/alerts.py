"""The alert aggregate in PostgreSQL: an alert row and its history, written together.

Every change to an alert writes its alert_history row in the same transaction, so
the history is never behind the alert. Concurrent writers are safe:
- inserts use the partial unique index (one open alert per fingerprint) as their
  ON CONFLICT arbiter, so a second process inserting the same problem records an
  occurrence instead of a duplicate;
- status changes lock the row (SELECT … FOR UPDATE) and check the transition, so
  two operators resolving at once give exactly one 'resolved' history row.
Batches are sorted by fingerprint / id before writing so two concurrent batches take
row locks in the same order and cannot deadlock.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..errors import StoreError
from ..events import describe_history
from ..model import Alert, HistoryAction, Severity, Status, StoredAlert
from .jsonb import jsonb

TITLE_MAX = 255  # alerts.title is VARCHAR(255) in the seed


class UnknownAlertError(StoreError):
    """No alert has this id."""


# alert_history.action values: one list, in the model (the migrations' CHECK allows exactly these).
Action = HistoryAction


@dataclass(frozen=True)
class Actor:
    """Who made a change: an operator (from the API token) or the engine itself."""

    user_id: str | None
    user_name: str | None

    @property
    def label(self) -> str | None:
        """What goes into acknowledged_by / resolved_by (VARCHAR(100))."""
        label = self.user_name or self.user_id
        return label[:100] if label else None


# Committed changes to alerts are announced on this channel (`NOTIFY opsc_alerts, '<id>,…'`);
# the dashboard's one LISTEN (web/live.py) follows it.
NOTIFY_CHANNEL = "opsc_alerts"

ENGINE = Actor(user_id="opsc", user_name="OpsConductor engine")


@dataclass(frozen=True)
class InsertedAlert:
    id: str
    created: bool  # False: an open alert with this fingerprint existed; this became an occurrence
    occurrence_count: int


@dataclass(frozen=True)
class Occurrence:
    alert_id: str
    occurred_at: datetime


@dataclass(frozen=True)
class StatusChange:
    alert_id: str
    action: Action
    old_status: Status
    new_status: Status
    changed: bool  # False: the alert was already past this transition; nothing written


@dataclass(frozen=True)
class HistoryEntry:
    id: str
    action: Action
    old_status: Status | None
    new_status: Status | None
    user_id: str | None
    user_name: str | None
    notes: str | None
    changes: Mapping[str, Any] | None
    created_at: datetime

    def describe(self) -> str:
        """The row in the words explain and the alert page share."""
        return describe_history(self.action, self.old_status, self.new_status, self.user_name or self.user_id,
                                self.notes, self.changes)


@dataclass(frozen=True)
class AlertRecord:
    """One stored alert with the columns the model does not carry, and its history."""

    alert: StoredAlert
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    created_at: datetime
    updated_at: datetime
    history: tuple[HistoryEntry, ...]


ALERT_COLUMNS = (
    "id", "source_system", "source_alert_id", "device_ip", "device_name", "severity", "category",
    "alert_type", "impact", "urgency", "priority", "title", "message", "status", "is_clear",
    "occurred_at", "received_at", "correlated_to_id", "correlation_rule", "tags", "custom_fields",
    "raw_data", "fingerprint", "occurrence_count", "last_occurrence_at", "resource_key", "connector",
    "config_version_id", "root_cause",
)  # fmt: skip

# The arbiter is the partial unique index alerts_one_open_per_fingerprint; its WHERE
# must be repeated here for PostgreSQL to pick it.
_UPSERT = f"""
INSERT INTO alerts ({", ".join(ALERT_COLUMNS)})
VALUES ({", ".join(["%s"] * len(ALERT_COLUMNS))})
ON CONFLICT (fingerprint) WHERE status <> 'resolved' DO UPDATE SET
    occurrence_count = alerts.occurrence_count + 1,
    last_occurrence_at = GREATEST(COALESCE(alerts.last_occurrence_at, alerts.occurred_at),
                                  EXCLUDED.occurred_at)
RETURNING id::text, occurrence_count
"""

_INSERT_HISTORY = """
INSERT INTO alert_history (alert_id, action, old_status, new_status, user_id, user_name, notes, changes)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
"""


def insert_alerts(conn: psycopg.Connection, alerts: Sequence[Alert], *, actor: Actor = ENGINE) -> list[InsertedAlert]:
    """Insert new alerts with a 'created' history row each; one result per alert, in order.

    An alert whose fingerprint already has an open alert (another process got there
    first, or the same batch holds it twice) is recorded as an occurrence of that one.
    """
    if not alerts:
        return []
    order = sorted(range(len(alerts)), key=lambda i: alerts[i].fingerprint)
    # Client-side ids (the engine's own when it assigned one): no extra round trip.
    proposed = [a.id or str(uuid.uuid4()) for a in alerts]
    results: dict[int, InsertedAlert] = {}
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_UPSERT, [alert_row(alerts[i], proposed[i], list, jsonb) for i in order], returning=True)
        for i in order:
            row = cur.fetchone()
            assert row is not None  # RETURNING: one row per alert
            alert_id, count = row
            results[i] = InsertedAlert(alert_id, alert_id == proposed[i], count)
            cur.nextset()
        cur.executemany(_INSERT_HISTORY, [_insert_history(alerts[i], results[i], actor) for i in order])
    return [results[i] for i in range(len(alerts))]


def record_occurrences(
    conn: psycopg.Connection, occurrences: Sequence[Occurrence], *, actor: Actor = ENGINE
) -> list[int | None]:
    """Count repeats of open alerts; per item the new occurrence_count, or None when the
    alert is resolved (or gone) by now — the caller then inserts a new alert."""
    if not occurrences:
        return []
    order = sorted(range(len(occurrences)), key=lambda i: occurrences[i].alert_id)
    counts: list[int | None] = [None] * len(occurrences)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            UPDATE alerts SET occurrence_count = occurrence_count + 1,
                last_occurrence_at = GREATEST(COALESCE(last_occurrence_at, occurred_at), %s)
            WHERE id = %s AND status <> 'resolved'
            RETURNING occurrence_count
            """,
            [(occurrences[i].occurred_at, occurrences[i].alert_id) for i in order],
            returning=True,
        )
        for i in order:
            row = cur.fetchone()
            counts[i] = row[0] if row else None
            cur.nextset()
        history = [
            (occurrences[i].alert_id, Action.OCCURRENCE.value, None, None, actor.user_id, actor.user_name,
             None, jsonb({"occurrence_count": counts[i], "occurred_at": occurrences[i].occurred_at}))
            for i in order if counts[i] is not None
        ]  # fmt: skip
        if history:
            cur.executemany(_INSERT_HISTORY, history)
    return counts


def acknowledge(conn: psycopg.Connection, alert_id: str, *, actor: Actor, notes: str | None = None) -> StatusChange:
    """active → acknowledged."""
    return _transition(conn, alert_id, Action.ACKNOWLEDGED, Status.ACKNOWLEDGED, (Status.ACTIVE,), actor, notes,
                       stamp="acknowledged")  # fmt: skip


def resolve(conn: psycopg.Connection, alert_id: str, *, actor: Actor, notes: str | None = None) -> StatusChange:
    """Any open status → resolved, by an operator."""
    return _transition(conn, alert_id, Action.RESOLVED, Status.RESOLVED, _OPEN, actor, notes, stamp="resolved")


def clear(conn: psycopg.Connection, alert_id: str, *, actor: Actor = ENGINE, notes: str | None = None) -> StatusChange:
    """Any open status → resolved, because a clear event arrived (history action 'cleared')."""
    return _transition(conn, alert_id, Action.CLEARED, Status.RESOLVED, _OPEN, actor, notes, stamp="resolved")


def suppress(
    conn: psycopg.Connection,
    alert_id: str,
    *,
    actor: Actor = ENGINE,
    notes: str | None = None,
    correlated_to_id: str | None = None,
    correlation_rule: str | None = None,
) -> StatusChange:
    """active/acknowledged → suppressed, optionally linked to the alert that explains it."""
    links = {"correlated_to_id": correlated_to_id, "correlation_rule": correlation_rule}
    return _transition(conn, alert_id, Action.SUPPRESSED, Status.SUPPRESSED, (Status.ACTIVE, Status.ACKNOWLEDGED),
                       actor, notes, links={k: v for k, v in links.items() if v is not None})  # fmt: skip


_OPEN = (Status.ACTIVE, Status.ACKNOWLEDGED, Status.SUPPRESSED)


def _transition(
    conn: psycopg.Connection,
    alert_id: str,
    action: Action,
    to: Status,
    allowed_from: tuple[Status, ...],
    actor: Actor,
    notes: str | None,
    *,
    stamp: str | None = None,  # "acknowledged" | "resolved": sets <stamp>_at and <stamp>_by
    links: Mapping[str, str] | None = None,  # correlated_to_id / correlation_rule
) -> StatusChange:
    _check_uuid(alert_id)
    links = dict(links or {})
    assignments: list[sql.Composable] = [sql.SQL("status = %s")]
    params: list[Any] = [to.value]
    if stamp is not None:
        assignments.append(sql.SQL("{} = NOW(), {} = %s").format(
            sql.Identifier(f"{stamp}_at"), sql.Identifier(f"{stamp}_by")))  # fmt: skip
        params.append(actor.label)
    for column, value in links.items():
        assignments.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
        params.append(value)
    update = sql.SQL("UPDATE alerts SET {} WHERE id = %s").format(sql.SQL(", ").join(assignments))
    with conn.transaction(), conn.cursor() as cur:
        # The row lock serializes concurrent changes; the second writer then sees the
        # new status and finds its transition no longer allowed.
        row = cur.execute("SELECT status FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()
        if row is None:
            raise UnknownAlertError(f"alert {alert_id} does not exist")
        old = Status(row[0])
        if old not in allowed_from:
            return StatusChange(alert_id, action, old, old, changed=False)
        cur.execute(update, (*params, alert_id))
        changes = {"status": [old.value, to.value], **links}
        cur.execute(
            _INSERT_HISTORY,
            (alert_id, action.value, old.value, to.value, actor.user_id, actor.user_name, notes, jsonb(changes)),
        )
    return StatusChange(alert_id, action, old, to, changed=True)


_SELECT_ALERT = f"""
SELECT {", ".join(ALERT_COLUMNS)}, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
       created_at, updated_at
FROM alerts
"""


def load_active_alerts(conn: psycopg.Connection) -> list[StoredAlert]:
    """Every open (non-resolved) alert, oldest first: what the engine rebuilds at start."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_SELECT_ALERT + " WHERE status <> 'resolved' ORDER BY received_at, id").fetchall()
    return [_alert_from_row(r) for r in rows]


def get_alert(conn: psycopg.Connection, alert_id: str) -> AlertRecord | None:
    """One alert with its history in time order; None when there is no such alert."""
    try:
        _check_uuid(alert_id)
    except UnknownAlertError:
        return None
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT_ALERT + " WHERE id = %s", (alert_id,)).fetchone()
        if row is None:
            return None
        history = cur.execute(
            """
            SELECT id::text, action, old_status, new_status, user_id, user_name, notes, changes, created_at
            FROM alert_history WHERE alert_id = %s ORDER BY seq
            """,
            (alert_id,),
        ).fetchall()
    return AlertRecord(
        alert=_alert_from_row(row),
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        history=tuple(_history_from_row(h) for h in history),
    )


def _check_uuid(alert_id: str) -> None:
    try:
        uuid.UUID(str(alert_id))
    except ValueError:
        raise UnknownAlertError(f"alert {alert_id!r} does not exist (not a UUID)") from None


def alert_row(alert: Alert, alert_id: str | None, tags: Callable[[tuple[str, ...]], Any], json: Callable[[Any], Any],
              raw_data: Any = None) -> tuple[Any, ...]:
    """The alert's values in ALERT_COLUMNS order, the title cut to its column. `tags` and
    `json` encode the array and JSONB columns the way the caller sends them (query
    parameters here, COPY text in batch.py); `raw_data`, when given, is already encoded."""
    title = alert.title if len(alert.title) <= TITLE_MAX else alert.title[: TITLE_MAX - 1] + "…"
    return (
        alert_id, alert.source_system, alert.source_alert_id, alert.device_ip, alert.device_name,
        alert.severity.value, alert.category, alert.alert_type, alert.impact, alert.urgency, alert.priority,
        title, alert.message, alert.status.value, alert.is_clear, alert.occurred_at, alert.received_at,
        alert.correlated_to_id, alert.correlation_rule, tags(alert.tags), json(alert.custom_fields),
        raw_data if raw_data is not None else json(alert.raw_data), alert.fingerprint, alert.occurrence_count,
        alert.last_occurrence_at, alert.resource_key, alert.connector, alert.config_version_id, alert.root_cause,
    )  # fmt: skip


def _insert_history(alert: Alert, result: InsertedAlert, actor: Actor) -> tuple[Any, ...]:
    if result.created:
        return (result.id, Action.CREATED.value, None, alert.status.value, actor.user_id, actor.user_name, None,
                jsonb({"config_version_id": alert.config_version_id, "connector": alert.connector}))  # fmt: skip
    return (result.id, Action.OCCURRENCE.value, None, None, actor.user_id, actor.user_name, None,
            jsonb({"occurrence_count": result.occurrence_count, "occurred_at": alert.occurred_at}))  # fmt: skip


def _alert_from_row(row: Mapping[str, Any]) -> StoredAlert:
    return StoredAlert(
        id=row["id"] and str(row["id"]),
        source_system=row["source_system"],
        source_alert_id=row["source_alert_id"],
        device_ip=row["device_ip"],
        device_name=row["device_name"],
        severity=Severity(row["severity"]),
        category=row["category"],
        alert_type=row["alert_type"],
        impact=row["impact"],
        urgency=row["urgency"],
        priority=row["priority"],
        title=row["title"],
        message=row["message"],
        status=Status(row["status"]),
        is_clear=bool(row["is_clear"]),
        occurred_at=row["occurred_at"],
        received_at=row["received_at"],
        correlated_to_id=row["correlated_to_id"] and str(row["correlated_to_id"]),
        correlation_rule=row["correlation_rule"],
        tags=tuple(row["tags"] or ()),
        custom_fields=row["custom_fields"] or {},
        raw_data=row["raw_data"] or {},
        fingerprint=row["fingerprint"],
        occurrence_count=row["occurrence_count"] or 1,
        last_occurrence_at=row["last_occurrence_at"],
        resource_key=row["resource_key"],
        connector=row["connector"],
        config_version_id=row["config_version_id"],
        root_cause=row.get("root_cause"),
    )


def _history_from_row(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        id=row["id"],
        action=Action(row["action"]),
        old_status=row["old_status"] and Status(row["old_status"]),
        new_status=row["new_status"] and Status(row["new_status"]),
        user_id=row["user_id"],
        user_name=row["user_name"],
        notes=row["notes"],
        changes=row["changes"],
        created_at=row["created_at"],
    )
