"""A test's `expect`, checked against the record of its run; the first difference is the
failure, named by its path in the test (`alerts[0].status: expected …, got …`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from ..model import Alert
from ..pipeline.effects import Notification
from .selectors import describe_alert, first_difference, matches
from .simulation import Record, T0, describe_notification, offset, when

def check(expect: Mapping[str, Any], record: Record) -> str | None:
    alerts = list(record.alerts.values())
    if "alert_count" in expect and len(alerts) != expect["alert_count"]:
        return f"alert_count: expected {expect['alert_count']}, got {len(alerts)} ({_brief(alerts)})"
    for i, spec in enumerate(expect.get("alerts", ())):
        problem = _check_alert(f"alerts[{i}]", spec, alerts, record)
        if problem:
            return problem
    if "notifications" in expect:
        problem = _check_sequence("notifications", expect["notifications"], record.notifications)
        if problem:
            return problem
    if "messages" in expect:
        problem = _check_messages(expect["messages"], record)
        if problem:
            return problem
    for i, span in enumerate(expect.get("spans", ())):
        start, end = when(span.get("from", "0s")), when(span["until"]) if "until" in span else None
        inside = [n for n in record.notifications if n.at >= start and (end is None or n.at <= end)]
        problem = _check_sequence(f"spans[{i}].notifications", span["notifications"], inside,
                                  f" between {offset(start)} and {offset(end) if end else 'the end'}")
        if problem:
            return problem
    return None


# ---- alerts ---------------------------------------------------------------------------------

def _check_alert(where: str, spec: Mapping[str, Any], alerts: Sequence[Alert], record: Record) -> str | None:
    if "count" in spec:
        like = [a for a in alerts if _alert_problem("", spec, a, record) is None]
        if len(like) != spec["count"]:
            return f"{where}.count: expected {spec['count']} alert(s) like this, got {len(like)} ({_brief(like)})"
        return None
    if "match" in spec:
        found = [a for a in alerts if matches(a, spec["match"])]
        if not found:
            return f"{where}: no alert matches {dict(spec['match'])} (alerts: {_brief(alerts)})"
        alert = found[-1]
    elif alerts:
        alert = alerts[-1]
    else:
        return f"{where}: no alert was created"
    return _alert_problem(where, spec, alert, record)


def _alert_problem(where: str, spec: Mapping[str, Any], alert: Alert, record: Record) -> str | None:
    if "match" in spec and not matches(alert, spec["match"]):
        return f"{where}.match"
    diff = first_difference(alert, spec.get("fields", {}))
    if diff:
        return f"{where}.fields.{diff}"
    if "status" in spec and alert.status.value != spec["status"]:
        return f"{where}.status: expected {spec['status']}, got {alert.status.value}"
    if "occurrence_count" in spec and alert.occurrence_count != spec["occurrence_count"]:
        return f"{where}.occurrence_count: expected {spec['occurrence_count']}, got {alert.occurrence_count}"
    if "correlation_rule" in spec and alert.correlation_rule != spec["correlation_rule"]:
        return f"{where}.correlation_rule: expected {spec['correlation_rule']!r}, got {alert.correlation_rule!r}"
    if "correlated_to" in spec:
        root = record.alerts.get(alert.correlated_to_id or "")
        if root is None:
            return f"{where}.correlated_to: expected a link to {dict(spec['correlated_to'])}, got none"
        diff = first_difference(root, spec["correlated_to"])
        if diff:
            return f"{where}.correlated_to.{diff}"
    return None


# ---- notifications ----------------------------------------------------------------------------

def _check_sequence(where: str, expected: Sequence[Mapping[str, Any]], got: list[Notification],
                    span: str = "") -> str | None:
    """Exactly these notifications, in this order, and no others."""
    for i, spec in enumerate(expected):
        if i >= len(got):
            return f"{where}[{i}]: expected {_shown(spec)}, got no more notifications{span}"
        problem = _notification_problem(spec, got[i])
        if problem:
            return f"{where}[{i}].{problem} ({_note(got[i])})"
    if len(got) > len(expected):
        return f"{where}: expected {len(expected)}, got {len(got)}{span}; unexpected: {_note(got[len(expected)])}"
    return None


def _notification_problem(spec: Mapping[str, Any], n: Notification) -> str | None:
    problem = _common_problem(spec, n, n.at)
    if problem:
        return problem
    if "alert" in spec:
        diff = first_difference(n.alert, spec["alert"])
        if diff:
            return f"alert.{diff}"
    return None


def _common_problem(spec: Mapping[str, Any], n: Any, at: datetime) -> str | None:
    """channel, rule, kind and time: what a notification and a message both have."""
    for key in ("channel", "rule", "kind"):
        if key in spec and getattr(n, key) != spec[key]:
            return f"{key}: expected {spec[key]!r}, got {getattr(n, key)!r}"
    if "at" in spec or "within" in spec:
        start = when(spec.get("at", "0s"))
        end = start + (when(spec["within"]) - T0) if "within" in spec else start
        if not start <= at <= end:
            wanted = offset(start) if start == end else f"between {offset(start)} and {offset(end)}"
            return f"at: expected {wanted}, got {offset(at)}"
    return None


def _check_messages(expected: Sequence[Mapping[str, Any]], record: Record) -> str | None:
    """Exactly these messages to the channels (after grouping), in order, and no others."""
    got = record.messages.sent if record.messages is not None else []
    for i, spec in enumerate(expected):
        if i >= len(got):
            return f"messages[{i}]: expected {_shown(spec)}, got no more messages"
        sent = got[i]
        problem = _common_problem(spec, sent.message, sent.at)
        if problem is None and "alerts" in spec and len(sent.message.notifications) != spec["alerts"]:
            problem = f"alerts: expected {spec['alerts']}, got {len(sent.message.notifications)}"
        if problem is None and "group" in spec and sent.message.group != str(spec["group"]):
            problem = f"group: expected {spec['group']!r}, got {sent.message.group!r}"
        if problem:
            return f"messages[{i}].{problem} ({sent.describe()} at {offset(sent.at)})"
    if len(got) > len(expected):
        extra = got[len(expected)]
        return f"messages: expected {len(expected)}, got {len(got)}; unexpected: {extra.describe()} at {offset(extra.at)}"
    return None


def _shown(spec: Mapping[str, Any]) -> dict:
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in spec.items()}


def _note(n: Notification) -> str:
    return f"{describe_notification(n)} at {offset(n.at)}"


def _brief(alerts: Sequence[Alert]) -> str:
    return ", ".join(describe_alert(a) for a in alerts) or "none"

