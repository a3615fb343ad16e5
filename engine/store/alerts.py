"""The alert aggregate in PostgreSQL: reading alerts and their history back, and the
values of an alert row.

Alerts are written one way only, by the engine's batches (store/batch.py: COPY, one
transaction per batch, each change with its alert_history row); operators' acknowledges
and resolves reach it as commands through the pipeline (pipeline/commands.py). Tests,
benches and demo data write through the same path (store/direct.py).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

import psycopg
from psycopg.rows import dict_row

from ..errors import StoreError
from ..events import describe_history
from ..model import Alert, HistoryAction, Severity, Status, StoredAlert

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
