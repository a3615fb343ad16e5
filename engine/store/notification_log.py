"""The notification log: one row per delivery attempt on one channel to one recipient.

The rule is kept by name as well as by id: when a rule is removed from the config its
row goes and rule_id becomes NULL, while rule_name still says which rule sent it. Payloads
must arrive already masked; this module stores what it is given.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import orjson
import psycopg

from .jsonb import _NUL, _default, jsonb


@dataclass(frozen=True)
class NotificationAttempt:
    alert_id: str | None
    channel: str
    recipient: str
    status: str  # e.g. sent | failed | throttled | skipped
    rule_name: str | None = None  # rule_id is looked up by this name when not given
    rule_id: str | None = None
    error_message: str | None = None
    payload: Mapping[str, Any] | None = None  # secret-masked by the caller
    sent_at: datetime | None = None  # defaults to now
    response_time_ms: int | None = None


@dataclass(frozen=True)
class NotificationLogEntry:
    id: str
    alert_id: str | None
    rule_id: str | None
    rule_name: str | None
    channel: str
    recipient: str
    status: str
    error_message: str | None
    payload: Any
    sent_at: datetime
    response_time_ms: int | None


def record_notifications(conn: psycopg.Connection, attempts: Sequence[NotificationAttempt]) -> list[str]:
    """Store attempts; returns their ids in input order."""
    if not attempts:
        return []
    ids: list[str] = []
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO notification_log (alert_id, rule_id, rule_name, channel, recipient, status,
                                          error_message, payload, sent_at, response_time_ms)
            VALUES (%(alert_id)s,
                    COALESCE(%(rule_id)s::uuid,
                             (SELECT id FROM notification_rules WHERE name = %(rule_name)s)),
                    %(rule_name)s, %(channel)s, %(recipient)s, %(status)s, %(error_message)s,
                    %(payload)s, COALESCE(%(sent_at)s, NOW()), %(response_time_ms)s)
            RETURNING id::text
            """,
            [_params(a) for a in attempts],
            returning=True,
        )
        for _ in attempts:
            row = cur.fetchone()
            assert row is not None  # RETURNING: one row per input row
            ids.append(row[0])
            cur.nextset()
    return ids


def payload_json(payload: Any) -> str | None:
    """A payload as JSON text, with orjson (the notifier logs thousands a second): pre-encoded
    request bodies (orjson.Fragment) go in as they are; NULs, which jsonb refuses, are dropped."""
    if payload is None:
        return None
    text = orjson.dumps(payload, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    return _NUL.sub(r"\1", text) if "\\u0000" in text else text


def list_notifications(conn: psycopg.Connection, alert_id: str) -> list[NotificationLogEntry]:
    """Every attempt for one alert, oldest first."""
    with conn.transaction():
        rows = conn.execute(
            """
            SELECT id::text, alert_id::text, rule_id::text, rule_name, channel, recipient, status,
                   error_message, payload, sent_at, response_time_ms
            FROM notification_log WHERE alert_id = %s ORDER BY sent_at, id
            """,
            (alert_id,),
        ).fetchall()
    return [NotificationLogEntry(*r) for r in rows]


def load_told(conn: psycopg.Connection, tells: Iterable[str]) -> list[tuple[str, str, str, datetime]]:
    """Who was last told of each open alert, per (alert id, rule, channel): what the engine
    restores at start (ActiveAlerts.restore_told). Told means a notification of a kind in
    `tells` (pipeline.effects.TELLS: those that tell of the problem) that was delivered (a `sent` row here) or is still pending in
    the outbox (it will be); one that finally failed told nobody, so it neither throttles
    nor gets a resolve."""
    with conn.transaction():
        return conn.execute(
            "SELECT alert_id, rule_name, channel, max(at) FROM ("
            "  SELECT n.alert_id::text AS alert_id, n.rule_name, n.channel, n.sent_at AS at FROM notification_log n"
            "   JOIN alerts a ON a.id = n.alert_id"
            "   WHERE a.status <> 'resolved' AND n.status = 'sent' AND n.rule_name IS NOT NULL"
            "     AND COALESCE(n.payload->>'kind', 'firing') = ANY(%(tells)s)"
            "  UNION ALL"
            "  SELECT o.alert_id::text, o.rule_name, o.channel, o.decided_at FROM notification_outbox o"
            "   JOIN alerts a ON a.id = o.alert_id WHERE a.status <> 'resolved' AND o.kind = ANY(%(tells)s)"
            ") t GROUP BY 1, 2, 3", {"tells": sorted(tells)}).fetchall()


def load_throttles(conn: psycopg.Connection, tells: Iterable[str], since: datetime) -> list[tuple[str, str, datetime]]:
    """(rule, fingerprint, last told) of alerts already resolved that were told since `since`:
    a throttle outlives its alert (a recurrence soon after is held back), and so must
    outlive a restart."""
    with conn.transaction():
        return conn.execute(
            "SELECT n.rule_name, a.fingerprint, max(n.sent_at) FROM notification_log n"
            " JOIN alerts a ON a.id = n.alert_id"
            " WHERE n.sent_at >= %(since)s AND a.status = 'resolved' AND n.status = 'sent' AND n.rule_name IS NOT NULL"
            "   AND COALESCE(n.payload->>'kind', 'firing') = ANY(%(tells)s)"
            " GROUP BY 1, 2", {"tells": sorted(tells), "since": since}).fetchall()


def _params(a: NotificationAttempt) -> dict[str, Any]:
    return {
        "alert_id": a.alert_id,
        "rule_id": a.rule_id,
        "rule_name": a.rule_name,
        "channel": a.channel,
        "recipient": a.recipient,
        "status": a.status,
        "error_message": a.error_message,
        "payload": jsonb(a.payload),
        "sent_at": a.sent_at,
        "response_time_ms": a.response_time_ms,
    }
