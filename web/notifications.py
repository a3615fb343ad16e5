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
    how many there were. Retrying: still in the outbox after a failed attempt (migration
    012), or parked there until its next attempt (migration 018: the receiver failed, or its
    channel is down). Failed: the latest logged attempt per alert, channel and recipient failed (one
    retried and then sent is not trouble any more)."""
    with conn.cursor(row_factory=dict_row) as cur:
        retrying = cur.execute(
            "SELECT o.alert_id::text, o.channel, NULL AS recipient, 'retrying' AS status,"
            " concat_ws(' ', o.last_error, '(' || concat_ws('; ', 'attempt ' || NULLIF(o.attempts, 0),"
            "   'next attempt ' || to_char(o.next_attempt_at AT TIME ZONE 'UTC', 'HH24:MI:SS') || ' UTC') || ')')"
            "   AS error_message, o.rule_name, o.created_at AS sent_at, a.title, a.severity, a.device_name"
            " FROM notification_outbox o LEFT JOIN alerts a ON a.id = o.alert_id"
            " WHERE o.attempts > 0 OR o.next_attempt_at IS NOT NULL"
            " ORDER BY o.seq DESC LIMIT 500").fetchall()
        rows = cur.execute(
            "SELECT * FROM (SELECT DISTINCT ON (n.alert_id, n.channel, n.recipient) n.alert_id::text, n.channel,"
            " n.recipient, n.status, n.error_message, n.rule_name, n.sent_at, a.title, a.severity, a.device_name"
            " FROM notification_log n LEFT JOIN alerts a ON a.id = n.alert_id"
            f" WHERE n.sent_at > now() - interval '{WINDOW}'"
            " ORDER BY n.alert_id, n.channel, n.recipient, n.sent_at DESC) last"
            " WHERE status = ANY(%s) ORDER BY sent_at DESC", (list(TROUBLE),)).fetchall()
    pending = {(r["alert_id"], r["channel"]) for r in retrying}
    rows = retrying + [r for r in rows if r["status"] == "failed" or (r["alert_id"], r["channel"]) not in pending]
    rows.sort(key=lambda r: r["sent_at"], reverse=True)
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
