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
    """Write the changes: one UPDATE for the batch (each alert's last state) and one history
    row per change, in order. Returns how many alerts changed."""
    if not changes:
        return 0
    unknown = {c.action for c in changes} - ACTIONS
    if unknown:
        raise ValueError(f"unknown engine transition(s): {sorted(unknown)}")
    last = {c.alert.id: c.alert for c in changes}
    ids = list(last)
    with conn.transaction(), conn.cursor() as cur:
        changed = {row[0] for row in cur.execute(
            """
            UPDATE alerts a SET status = v.status, correlated_to_id = v.root, correlation_rule = v.rule,
                   resolved_at = CASE WHEN v.status = 'resolved' THEN NOW() ELSE a.resolved_at END,
                   resolved_by = CASE WHEN v.status = 'resolved' THEN %s ELSE a.resolved_by END
            FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::text[]) AS v(id, status, root, rule)
            WHERE a.id = v.id AND a.status <> 'resolved'
            RETURNING a.id::text
            """,
            (actor.label, ids, [last[i].status.value for i in ids], [last[i].correlated_to_id for i in ids],
             [last[i].correlation_rule for i in ids])).fetchall()}
        history = [(c.alert.id, c.action, c.old_status.value, c.alert.status.value, actor.user_id, actor.user_name,
                    jsonb({"status": [c.old_status.value, c.alert.status.value],
                           "correlated_to_id": c.alert.correlated_to_id, "correlation_rule": c.alert.correlation_rule}))
                   for c in changes if c.alert.id in changed]
        if history:
            cur.executemany("INSERT INTO alert_history (alert_id, action, old_status, new_status, user_id, user_name,"
                            " changes) VALUES (%s, %s, %s, %s, %s, %s, %s)", history)
    return len(changed)
