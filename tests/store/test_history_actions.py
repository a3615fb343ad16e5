"""The one list of history actions (model.HistoryAction) against the migrations' CHECK
constraint, and every action the engine writes reads back (a child re-evaluated after its
root cleared once made get_alert raise, breaking explain and the alert page)."""
from __future__ import annotations

import re

import psycopg

from opsconductor.engine.model import HistoryAction, Status
from opsconductor.engine.store.alerts import get_alert
from opsconductor.engine.store.transitions import EngineChange, store_engine_changes

from .test_alerts import make_alert, stored


def test_the_check_constraint_allows_exactly_the_listed_actions(db_conn: psycopg.Connection) -> None:
    (definition,) = db_conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'alert_history_action_known'").fetchone()
    allowed = set(re.findall(r"'([a-z_]+)'", definition))
    assert allowed == {a.value for a in HistoryAction}


def test_a_child_unsuppressed_then_relinked_reads_back_with_its_whole_history(db_conn: psycopg.Connection) -> None:
    root, other_root, child = stored(db_conn, *[
        make_alert(1, alert_type="device_unreachable"), make_alert(2, alert_type="device_unreachable"),
        make_alert(3, status=Status.SUPPRESSED)])
    with db_conn.transaction(), db_conn.cursor() as cur:
        store_engine_changes(cur, [
            EngineChange(child.id, HistoryAction.UNSUPPRESSED, "suppressed", "active", None, None),
            EngineChange(child.id, HistoryAction.SUPPRESSED, "active", "suppressed", root.id, "dependency:x"),
            EngineChange(child.id, HistoryAction.RELINKED, "suppressed", "suppressed", other_root.id, "dependency:y"),
        ])
    record = get_alert(db_conn, child.id)
    assert [h.action for h in record.history] == [HistoryAction.CREATED, HistoryAction.UNSUPPRESSED,
                                                  HistoryAction.SUPPRESSED, HistoryAction.RELINKED]
    assert record.alert.correlated_to_id == other_root.id
