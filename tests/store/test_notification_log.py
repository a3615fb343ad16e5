"""The notification log: attempts per alert, rule by name, the rule id resolved."""
from __future__ import annotations

from datetime import datetime, timezone

from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.notification_log import NotificationAttempt, list_notifications, record_notifications
from opsconductor.engine.store.projection import ConfigProjection, NotificationRuleRow, apply_projection

from .test_alerts import make_alert, stored

RULE = NotificationRuleRow("critical-to-noc", None, True, 10, {"severity": ["critical"]}, ({"type": "slack"},), 0)


def test_attempts_are_listed_per_alert_in_order(db_conn):
    apply_projection(db_conn, ConfigProjection(notification_rules=(RULE,)), record_applied(db_conn, content_hash="a").id)
    a, b = stored(db_conn, make_alert(1), make_alert(2))
    t1, t2 = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc), datetime(2026, 1, 15, 9, 5, tzinfo=timezone.utc)
    ids = record_notifications(db_conn, [
        NotificationAttempt(a.id, "slack", "#noc", "failed", rule_name="critical-to-noc", error_message="HTTP 500",
                            payload={"text": "Interface Down", "webhook": "***"}, sent_at=t1, response_time_ms=812),
        NotificationAttempt(a.id, "slack", "#noc", "sent", rule_name="critical-to-noc", sent_at=t2, response_time_ms=95),
        NotificationAttempt(b.id, "email", "noc@example.net", "throttled", rule_name="gone-rule"),
    ])  # fmt: skip
    assert len(set(ids)) == 3
    first, second = list_notifications(db_conn, a.id)
    assert (first.status, first.error_message, first.sent_at, first.response_time_ms) == ("failed", "HTTP 500", t1, 812)
    assert first.payload == {"text": "Interface Down", "webhook": "***"}
    assert first.rule_id is not None and first.rule_name == "critical-to-noc"
    assert second.status == "sent"
    (other,) = list_notifications(db_conn, b.id)
    assert (other.rule_id, other.rule_name) == (None, "gone-rule")


def test_throttles_of_resolved_alerts_are_read_back_for_a_restart(db_conn):
    from opsconductor.engine.pipeline.effects import TELLS
    from opsconductor.engine.model import Status
    from opsconductor.engine.store.direct import change_stored
    from opsconductor.engine.store.notification_log import load_throttles

    closed, still_open, old = stored(db_conn, make_alert(1), make_alert(2), make_alert(3))
    t = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
    record_notifications(db_conn, [
        NotificationAttempt(closed.id, "slack", "#noc", "sent", rule_name="r", payload={"kind": "firing"}, sent_at=t),
        NotificationAttempt(closed.id, "slack", "#noc", "sent", rule_name="r", payload={"kind": "resolved"},
                            sent_at=t.replace(minute=5)),  # the all-clear starts no throttle
        NotificationAttempt(closed.id, "slack", "#noc", "failed", rule_name="r", payload={"kind": "firing"},
                            sent_at=t.replace(minute=6)),  # a failed page told nobody
        NotificationAttempt(still_open.id, "slack", "#noc", "sent", rule_name="r", payload={"kind": "firing"},
                            sent_at=t),  # open alerts come back with load_told
        NotificationAttempt(old.id, "slack", "#noc", "sent", rule_name="r", payload={"kind": "firing"},
                            sent_at=t.replace(hour=7)),  # before the longest throttle: irrelevant
    ])
    for alert in (closed, old):
        change_stored(db_conn, alert.id, "cleared", Status.RESOLVED)
    rows = load_throttles(db_conn, TELLS, since=t.replace(hour=8))
    assert rows == [("r", make_alert(1).fingerprint, t)]
