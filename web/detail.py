"""One alert with everything the detail page and GET /api/v1/alerts/{id} show."""
from __future__ import annotations

from typing import Any

import psycopg

from opsconductor.engine.store.alerts import get_alert
from opsconductor.engine.store.decisions import list_decisions
from opsconductor.engine.store.notification_log import list_notifications

from . import queries
from .queries import jsonable


def alert_detail(conn: psycopg.Connection, alert_id: str) -> dict[str, Any] | None:
    record = get_alert(conn, alert_id)
    if record is None:
        return None
    alert = jsonable(record.alert)
    alert.pop("clears", None)
    alert.update(acknowledged_at=jsonable(record.acknowledged_at), acknowledged_by=record.acknowledged_by,
                 resolved_at=jsonable(record.resolved_at), resolved_by=record.resolved_by,
                 created_at=jsonable(record.created_at), updated_at=jsonable(record.updated_at))
    root = queries.summary(conn, record.alert.correlated_to_id) if record.alert.correlated_to_id else None
    kids, total = queries.children(conn, alert_id)
    notifications = [jsonable(n) for n in list_notifications(conn, alert_id)]
    return {
        "alert": alert,
        # `text`: the sentence `opsc explain` prints for the same row (engine/events.py)
        "history": [{**jsonable(h), "text": h.describe()} for h in record.history],
        "decisions": [{**jsonable(d), "text": d.describe()} for d in list_decisions(conn, alert_id)],
        "notifications": notifications,
        "correlation": {
            "root": jsonable(root),
            "rule": record.alert.correlation_rule,
            "children": jsonable(kids),
            "children_total": total,
        },
    }
