"""`opsc explain`: the rule trail of one alert, as text. Pure: the caller reads the store."""
from __future__ import annotations

from typing import Sequence

from .store.alerts import AlertRecord
from .store.decisions import DecisionEntry
from .store.notification_log import NotificationLogEntry

_VERBS = {"normalize": "normalized by", "enrich": "matched rule", "correlate": "correlated by", "route": "routed by"}


def _detail(d: DecisionEntry) -> str:
    detail = dict(d.detail or {})
    if "changed" in detail:
        return "set " + ", ".join(detail["changed"])
    if "suppressed_under" in detail:
        return f"suppressed under {detail['suppressed_under']} ({detail.get('root_title', '')})".rstrip(" ()")
    if "parent" in detail:
        return f"linked to parent {detail['parent']}"
    if "occurrence_count" in detail:
        batch = f", {detail['occurrences']} repeats in one batch" if detail.get("occurrences", 1) > 1 else ""
        return f"deduplicated (occurrence {detail['occurrence_count']}{batch})"
    if "cleared_by" in detail:
        return f"cleared by {detail['cleared_by']} ({detail.get('title', '')})"
    if "notify" in detail:
        return "→ " + ", ".join(detail["notify"])
    if detail.get("throttled"):
        return f"throttled (last notified {detail.get('last_notified')})"
    if "suppressed" in detail:
        return f"suppressed: {detail['suppressed']}"
    return ", ".join(f"{k}={v}" for k, v in detail.items())


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
        verb = _VERBS.get(d.stage, d.stage)
        version = f" [v{d.config_version_id}]" if d.config_version_id is not None else ""
        lines.append(f"  {d.created_at:%H:%M:%S} {verb:<14} {d.rule}{version}: {_detail(d)}")
    lines.append("Notifications:")
    if not notifications:
        lines.append("  (none)")
    for n in notifications:
        error = f" — {n.error_message}" if n.error_message else ""
        lines.append(f"  {n.sent_at:%H:%M:%S} {n.channel} ({n.recipient}) by {n.rule_name or '-'}: {n.status}{error}")
    lines.append("History:")
    for h in record.history:
        who = h.user_name or h.user_id or "-"
        status = f"{h.old_status.value if h.old_status else '-'} → {h.new_status.value if h.new_status else '-'}"
        note = f" — {h.notes}" if h.notes else ""
        lines.append(f"  {h.created_at:%H:%M:%S} {h.action.value:<12} {status} by {who}{note}")
    return "\n".join(lines)
