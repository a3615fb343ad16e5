"""What a channel delivers: one message for one rule, one channel and one kind, covering one
alert or a group of alerts, with each alert already flattened into a JSON-able view."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from collections.abc import Mapping
from typing import Any

from ..config.bundle import NotifyAction
from ..model import Alert, StoredAlert
from ..pipeline.effects import Notification, NotificationKind


def alert_view(alert: Alert, site: str | None, dashboard_url: str | None) -> dict[str, Any]:
    """An alert as templates and webhook receivers see it: plain values, times as ISO 8601."""
    device = alert.device_name or alert.device_ip or ""
    return {
        "id": alert.id, "fingerprint": alert.fingerprint, "source_system": alert.source_system,
        "source_alert_id": alert.source_alert_id, "connector": alert.connector,
        "device_ip": alert.device_ip, "device_name": alert.device_name, "device": device, "site": site,
        "severity": alert.severity.value, "category": alert.category, "alert_type": alert.alert_type,
        "impact": alert.impact, "urgency": alert.urgency, "priority": alert.priority,
        "title": alert.title, "message": alert.message, "status": alert.status.value, "is_clear": alert.is_clear,
        "occurred_at": _iso(alert.occurred_at), "received_at": _iso(alert.received_at),
        "last_occurrence_at": _iso(alert.last_occurrence_at), "occurrence_count": alert.occurrence_count,
        "tags": list(alert.tags), "custom_fields": _plain(alert.custom_fields), "resource_key": alert.resource_key,
        "correlated_to_id": alert.correlated_to_id, "correlation_rule": alert.correlation_rule,
        "time": human_time(alert.occurred_at),
        "url": f"{dashboard_url.rstrip('/')}/alerts/{alert.id}" if dashboard_url and alert.id else None,
    }


@dataclass(frozen=True)
class Message:
    rule: str
    channel: str
    kind: NotificationKind
    notifications: tuple[Notification, ...]
    views: tuple[dict, ...]  # alert_view of each notification's alert, same order
    group_key: str = ""  # "" when the rule does not group
    group_labels: Mapping[str, Any] = field(default_factory=dict)
    dashboard_url: str | None = None
    storm: Mapping[str, Any] = field(default_factory=dict)  # set on a storm digest (storm.py): counts, window, link

    @property
    def alerts(self) -> tuple[StoredAlert, ...]:
        return tuple(n.alert for n in self.notifications)

    @property
    def action(self) -> NotifyAction | None:
        return self.notifications[0].action

    @property
    def group(self) -> str:
        """The group's values for people: `site1`, or `site1, ups`; empty when ungrouped."""
        return ", ".join("-" if v is None else str(v) for v in self.group_labels.values())

    def single(self, i: int) -> "Message":
        """The message restricted to its i-th alert (PagerDuty sends one event per alert)."""
        return replace(self, notifications=(self.notifications[i],), views=(self.views[i],))

    def representative(self) -> int:
        """Index of the alert whose fields stand for the whole message: the most severe, first."""
        return max(range(len(self.notifications)), key=lambda i: (self.notifications[i].alert.severity.rank, -i))


@dataclass(frozen=True)
class OutboxNotification(Notification):
    """A notification read back from the outbox: `outbox_id` is its row, acknowledged when
    it is delivered (or finally failed) and sent as the webhook's idempotency key."""

    outbox_id: str = ""
    attempts: int = 0  # attempts made before it was read (before a restart, or before it was parked)
    created_at: datetime | None = None  # when its outbox row was written: the retry window counts from it


def human_time(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:  # most values: no ABC check
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
