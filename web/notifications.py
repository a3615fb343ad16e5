"""Notifications in view: deliveries that failed or are being retried (the overview's
panel), and per-channel outcomes (the /connectors page)."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

TROUBLE = ("failed", "retrying")
WINDOW = "24 hours"


def troubled(conn: psycopg.Connection, limit: int = 12) -> dict[str, Any]:
    """The newest failed or retrying deliveries of the last 24 h, each with its alert, and
    how many there were. A delivery retried and then sent is not trouble any more: only the
    latest attempt per alert, channel and recipient counts."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM (SELECT DISTINCT ON (n.alert_id, n.channel, n.recipient) n.alert_id::text, n.channel,"
            " n.recipient, n.status, n.error_message, n.rule_name, n.sent_at, a.title, a.severity, a.device_name"
            " FROM notification_log n LEFT JOIN alerts a ON a.id = n.alert_id"
            f" WHERE n.sent_at > now() - interval '{WINDOW}'"
            " ORDER BY n.alert_id, n.channel, n.recipient, n.sent_at DESC) last"
            " WHERE status = ANY(%s) ORDER BY sent_at DESC", (list(TROUBLE),)).fetchall()
    return {"rows": rows[:limit], "total": len(rows),
            "failed": sum(1 for r in rows if r["status"] == "failed"),
            "retrying": sum(1 for r in rows if r["status"] == "retrying")}


def by_channel(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Per channel, the last 24 h: sent, failed, retrying, other; the last failure."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT channel, count(*) FILTER (WHERE status = 'sent') AS sent,"
            " count(*) FILTER (WHERE status = 'failed') AS failed,"
            " count(*) FILTER (WHERE status = 'retrying') AS retrying,"
            " count(*) FILTER (WHERE status NOT IN ('sent', 'failed', 'retrying')) AS other,"
            " max(sent_at) FILTER (WHERE status = 'failed') AS last_failed_at,"
            " (array_agg(error_message ORDER BY sent_at DESC) FILTER (WHERE status = 'failed'))[1] AS last_error"
            f" FROM notification_log WHERE sent_at > now() - interval '{WINDOW}' GROUP BY channel ORDER BY channel"
        ).fetchall()
