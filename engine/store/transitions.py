"""Status changes the engine decides (clears, suppression, re-evaluation), written in bulk.

Operators' changes go through alerts.acknowledge/resolve (row lock, one at a time);
the engine's come from the single pipeline worker that owns the in-memory view, so a
batch is written with two executemany calls. A row an operator resolved meanwhile is
left alone (the WHERE clause), and gets no history row.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from ..model import Alert, Status
from .alerts import ENGINE, Actor
from .jsonb import jsonb

ACTIONS = {"cleared", "suppressed", "unsuppressed", "relinked", "resolved"}


@dataclass(frozen=True)
class EngineChange:
    alert: Alert  # as it is after the change
    action: str  # one of ACTIONS
    old_status: Status


def apply_engine_changes(conn: psycopg.Connection, changes: Sequence[EngineChange], *, actor: Actor = ENGINE) -> int:
    """Write the changes in order; returns how many rows changed."""
    if not changes:
        return 0
    unknown = {c.action for c in changes} - ACTIONS
    if unknown:
        raise ValueError(f"unknown engine transition(s): {sorted(unknown)}")
    changed = 0
    with conn.transaction(), conn.cursor() as cur:
        for c in changes:
            a = c.alert
            resolved = a.status is Status.RESOLVED
            cur.execute(
                """
                UPDATE alerts SET status = %s, correlated_to_id = %s, correlation_rule = %s,
                       resolved_at = CASE WHEN %s THEN NOW() ELSE resolved_at END,
                       resolved_by = CASE WHEN %s THEN %s ELSE resolved_by END
                WHERE id = %s AND status <> 'resolved'
                """,
                (a.status.value, a.correlated_to_id, a.correlation_rule, resolved, resolved, actor.label, a.id),
            )
            if cur.rowcount != 1:
                continue
            changed += 1
            cur.execute(
                "INSERT INTO alert_history (alert_id, action, old_status, new_status, user_id, user_name, changes)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (a.id, c.action, c.old_status.value, a.status.value, actor.user_id, actor.user_name,
                 jsonb({"status": [c.old_status.value, a.status.value], "correlated_to_id": a.correlated_to_id,
                        "correlation_rule": a.correlation_rule})),
            )
    return changed
