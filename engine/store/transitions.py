"""Status changes of stored alerts, written in bulk: the engine's own (clears, suppression,
re-evaluation) and operators' acknowledges and resolves, which reach the store as commands
through the pipeline (pipeline/commands.py).

They all come from the single pipeline worker that owns the in-memory view, so a batch is
written with one UPDATE and one COPY of history rows, in order. An operator's change carries
who made it (acknowledged_by / resolved_by, and the history row's user and note).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from ..model import HistoryAction
from ..pipeline.effects import FLAPPING
from .alerts import ENGINE, Actor
from .copytext import Row, copy_text
from .jsonb import dumps

# The transitions a batch writes (the engine's, and an operator's acknowledged / resolved).
ACTIONS = frozenset({HistoryAction.CLEARED, HistoryAction.SUPPRESSED, HistoryAction.UNSUPPRESSED,
                     HistoryAction.RELINKED, HistoryAction.RESOLVED, HistoryAction.ACKNOWLEDGED})
# Changes of the row only, without a history row: the flapping mark in custom_fields (marked,
# a change while flapping, stable again); the decision trail says each one.
ROW_ONLY = frozenset({FLAPPING})


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
    user_id: str | None = None  # an operator's change: who (None: the engine)
    user_name: str | None = None
    notes: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.user_name) if self.user_id or self.user_name else ENGINE


def store_engine_changes(cur: psycopg.Cursor, changes: Sequence[EngineChange]) -> int:
    """Write the changes: one UPDATE for the batch (each alert's last state) and one history
    row per change, in order. Returns how many alerts changed."""
    if not changes:
        return 0
    unknown = {c.action for c in changes} - ACTIONS - ROW_ONLY
    if unknown:
        raise ValueError(f"unknown engine transition(s): {sorted(unknown)}")
    last = {c.alert_id: c for c in changes}
    acked = {c.alert_id: c.actor.label for c in changes if c.action == HistoryAction.ACKNOWLEDGED}
    ids = list(last)
    changed = {row[0] for row in cur.execute(
        """
        UPDATE alerts a SET status = v.status, correlated_to_id = v.root, correlation_rule = v.rule,
               custom_fields = COALESCE(v.cf::jsonb, a.custom_fields),
               acknowledged_at = CASE WHEN v.acked THEN NOW() ELSE a.acknowledged_at END,
               acknowledged_by = CASE WHEN v.acked THEN v.acked_by ELSE a.acknowledged_by END,
               resolved_at = CASE WHEN v.status = 'resolved' THEN NOW() ELSE a.resolved_at END,
               resolved_by = CASE WHEN v.status = 'resolved' THEN v.by ELSE a.resolved_by END
        FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::text[], %s::text[], %s::text[], %s::bool[], %s::text[])
             AS v(id, status, root, rule, cf, by, acked, acked_by)
        WHERE a.id = v.id AND a.status <> 'resolved'
        RETURNING a.id::text
        """,
        (ids, [last[i].new_status for i in ids], [last[i].correlated_to_id for i in ids],
         [last[i].correlation_rule for i in ids], [last[i].custom_fields for i in ids],
         [last[i].actor.label for i in ids], [i in acked for i in ids], [acked.get(i) for i in ids])).fetchall()}
    copy_text(cur, HISTORY_COPY, (history_row(c) for c in changes
                                  if c.alert_id in changed and c.action not in ROW_ONLY))
    return len(changed)


HISTORY_COPY = ("COPY alert_history (alert_id, action, old_status, new_status, user_id, user_name, changes, notes)"
                " FROM STDIN")


def history_row(c: EngineChange) -> Row:
    """A change's alert_history row, in HISTORY_COPY's columns."""
    actor = c.actor
    if actor is not ENGINE:  # an operator's: the status moved, nothing else
        return (c.alert_id, c.action, c.old_status, c.new_status, actor.user_id, actor.user_name,
                dumps({"status": [c.old_status, c.new_status]}), c.notes)
    return (c.alert_id, c.action, c.old_status, c.new_status, actor.user_id, actor.user_name,
            dumps({"status": [c.old_status, c.new_status], "correlated_to_id": c.correlated_to_id,
                   "correlation_rule": c.correlation_rule}), None)
