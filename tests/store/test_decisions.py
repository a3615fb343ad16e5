"""The decision trail behind `opsc explain`."""
from __future__ import annotations

import psycopg
import pytest

from opsconductor.engine.store.alerts import insert_alerts
from opsconductor.engine.store.decisions import Decision, list_decisions, record_decisions

from .test_alerts import make_alert


def test_trail_in_order_and_every_decision_names_its_rule(db_conn):
    (a,) = insert_alerts(db_conn, [make_alert(1)])
    record_decisions(db_conn, [
        Decision(a.id, "normalize", "oidmap:1.3.6.1.6.3.1.1.5.3|"),
        Decision(a.id, "correlate", "upstream-down", detail={"parent": "x", "depends_on": ("10.0.0.1",)}),
        Decision(a.id, "route", "critical-to-noc", detail={"channels": ["slack"]}),
    ])  # fmt: skip
    trail = list_decisions(db_conn, a.id)
    assert [(d.stage, d.rule) for d in trail] == [
        ("normalize", "oidmap:1.3.6.1.6.3.1.1.5.3|"), ("correlate", "upstream-down"), ("route", "critical-to-noc")]
    assert trail[1].detail == {"parent": "x", "depends_on": ["10.0.0.1"]}
    with pytest.raises(psycopg.errors.NotNullViolation), db_conn.transaction():
        db_conn.execute("INSERT INTO alert_decisions (alert_id, stage) VALUES (%s, 'route')", (a.id,))
