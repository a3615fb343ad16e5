"""Status changes the engine decides (clears, suppression, re-evaluation), written in bulk.

Operators' changes go through alerts.acknowledge/resolve (row lock, one at a time);
the engine's come from the single pipeline worker that owns the in-memory view, so a
batch is written with one UPDATE and one COPY of history rows. A row an operator
resolved meanwhile is left alone (the WHERE clause), and gets no history row.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from ..model import HistoryAction
from .alerts import ENGINE, Actor
from .copytext import Row, copy_text
from .jsonb import dumps

# The transitions the engine makes on its own (operators' go through alerts.py).
ACTIONS = frozenset({HistoryAction.CLEARED, HistoryAction.SUPPRESSED, HistoryAction.UNSUPPRESSED,
                     HistoryAction.RELINKED, HistoryAction.RESOLVED})
# Changes of the row only, without a history row: the flapping mark in custom_fields (marked,
# a change while flapping, stable again); the decision trail says each one.
ROW_ONLY = frozenset({"flapping"})


@dataclass(frozen=True)
class EngineChange:
    """One change as plain values (it crosses into the writer process)."""

    alert_id: str
    action: str  # one of ACTIONS
    old_status: str
    new_status: str  # the alert's status after the change
    correlated_to_id: str | None
    correlation_rule: str | None
    custom_fields: str | None = None  # JSON, when the change moved them (the flapping mark)


def store_engine_changes(cur: psycopg.Cursor, changes: Sequence[EngineChange], *, actor: Actor = ENGINE) -> int:
    """Write the changes: one UPDATE for the batch (each alert's last state) and one history
    row per change, in order. Returns how many alerts changed."""
    if not changes:
        return 0
    unknown = {c.action for c in changes} - ACTIONS - ROW_ONLY
    if unknown:
        raise ValueError(f"unknown engine transition(s): {sorted(unknown)}")
    last = {c.alert_id: c for c in changes}
    ids = list(last)
    changed = {row[0] for row in cur.execute(
        """
        UPDATE alerts a SET status = v.status, correlated_to_id = v.root, correlation_rule = v.rule,
               custom_fields = COALESCE(v.cf::jsonb, a.custom_fields),
               resolved_at = CASE WHEN v.status = 'resolved' THEN NOW() ELSE a.resolved_at END,
               resolved_by = CASE WHEN v.status = 'resolved' THEN %s ELSE a.resolved_by END
        FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::text[], %s::text[]) AS v(id, status, root, rule, cf)
        WHERE a.id = v.id AND a.status <> 'resolved'
        RETURNING a.id::text
        """,
        (actor.label, ids, [last[i].new_status for i in ids], [last[i].correlated_to_id for i in ids],
         [last[i].correlation_rule for i in ids], [last[i].custom_fields for i in ids])).fetchall()}
    copy_text(cur, HISTORY_COPY, (history_row(c, actor) for c in changes
                                  if c.alert_id in changed and c.action not in ROW_ONLY))
    return len(changed)


HISTORY_COPY = ("COPY alert_history (alert_id, action, old_status, new_status, user_id, user_name, changes)"
                " FROM STDIN")


def history_row(c: EngineChange, actor: Actor = ENGINE) -> Row:
    """A change's alert_history row, in HISTORY_COPY's columns."""
    return (c.alert_id, c.action, c.old_status, c.new_status, actor.user_id, actor.user_name,
            dumps({"status": [c.old_status, c.new_status], "correlated_to_id": c.correlated_to_id,
                   "correlation_rule": c.correlation_rule}))
