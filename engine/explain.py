"""`opsc explain`: the rule trail of one alert, as text. Pure but for `find_alert_id`,
which turns the short id an operator copied into the full one (the caller reads the store)."""
from __future__ import annotations

import re
from typing import Sequence

import psycopg

from .events import VERBS
from .store.alerts import AlertRecord
from .store.decisions import DecisionEntry
from .store.notification_log import NotificationLogEntry

class AmbiguousId(ValueError):
    """A short id that names more than one alert."""


_HEX = re.compile(r"[0-9a-f]{4,32}")


def find_alert_id(conn: psycopg.Connection, text: str) -> str | None:
    """The full id of the alert whose id starts with `text` (at least 4 hex digits, dashes
    optional); None when none does; AmbiguousId when several do. A range over the primary
    key, not a LIKE over the table: instant at a million alerts."""
    digits = text.strip().lower().replace("-", "")
    if not _HEX.fullmatch(digits):
        return None
    low, high = (_uuid(digits + pad * (32 - len(digits))) for pad in "0f")
    rows = conn.execute("SELECT id::text FROM alerts WHERE id BETWEEN %s::uuid AND %s::uuid ORDER BY id LIMIT 3",
                        (low, high)).fetchall()
    if len(rows) > 1:
        raise AmbiguousId(f"{text} names {'more than two' if len(rows) > 2 else 'two'} alerts: "
                          + ", ".join(r[0] for r in rows[:2]) + "; give more of the id")
    return rows[0][0] if rows else None


def _uuid(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def explain_text(record: AlertRecord, decisions: Sequence[DecisionEntry],
                 notifications: Sequence[NotificationLogEntry], root: AlertRecord | None = None) -> str:
    a = record.alert
    lines = [
        f"Alert {a.id}",
        f"  {a.title}",
        f"  {a.severity.value} · {a.status.value} · {a.category}/{a.alert_type} · {a.source_system} "
        f"· device {a.device_name or '-'} ({a.device_ip or '-'})",
        f"  occurrences {a.occurrence_count} · first {record.alert.received_at:%Y-%m-%d %H:%M:%S%z}"
        + (f" · last {a.last_occurrence_at:%Y-%m-%d %H:%M:%S%z}" if a.last_occurrence_at else ""),
        f"  config version {a.config_version_id if a.config_version_id is not None else '-'}",
    ]
    if a.correlated_to_id:
        lines.append(f"  correlated to {a.correlated_to_id} by {a.correlation_rule}"
                     + (f": {root.alert.title} [{root.alert.status.value}]" if root else ""))
    lines.append("Trail:")
    if not decisions:
        lines.append("  (no decisions recorded)")
    for d in decisions:
        verb = VERBS.get(d.stage, d.stage)
        version = f" [v{d.config_version_id}]" if d.config_version_id is not None else ""
        lines.append(f"  {d.created_at:%H:%M:%S} {verb:<14} {d.rule}{version}: {d.describe()}")
    lines.append("Notifications:")
    if not notifications:
        lines.append("  (none)")
    for n in notifications:
        error = f" — {n.error_message}" if n.error_message else ""
        lines.append(f"  {n.sent_at:%H:%M:%S} {n.channel} ({n.recipient}) by {n.rule_name or '-'}: {n.status}{error}")
    lines.append("History:")
    for h in record.history:
        lines.append(f"  {h.created_at:%H:%M:%S} {h.describe()}")
    return "\n".join(lines)
