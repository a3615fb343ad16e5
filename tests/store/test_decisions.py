"""The decision trail behind `opsc explain`."""
from __future__ import annotations

import psycopg
import pytest

from opsconductor.engine.events import Decision, Normalized, Notified, UnderRoot
from opsconductor.engine.store.decisions import list_decisions
from opsconductor.engine.store.direct import store_decisions

from .test_alerts import make_alert, stored


def test_trail_in_order_and_every_decision_names_its_rule(db_conn):
    (a,) = stored(db_conn, make_alert(1))
    store_decisions(db_conn, [
        Decision(a.id, "oidmap:1.3.6.1.6.3.1.1.5.3|", Normalized("snmp_trap", "link_down")),
        Decision(a.id, "upstream-down", UnderRoot("x", dependency="dependencies.d/site.yaml:4")),
        Decision(a.id, "critical-to-noc", Notified(("slack",))),
    ])  # fmt: skip
    trail = list_decisions(db_conn, a.id)
    assert [(d.stage, d.rule) for d in trail] == [
        ("normalize", "oidmap:1.3.6.1.6.3.1.1.5.3|"), ("correlate", "upstream-down"), ("route", "critical-to-noc")]
    assert trail[1].detail == {"kind": "under_root", "suppressed_under": "x", "dependency": "dependencies.d/site.yaml:4"}
    assert trail[1].event == UnderRoot("x", dependency="dependencies.d/site.yaml:4")
    with pytest.raises(psycopg.errors.NotNullViolation), db_conn.transaction():
        db_conn.execute("INSERT INTO alert_decisions (alert_id, stage) VALUES (%s, 'route')", (a.id,))
