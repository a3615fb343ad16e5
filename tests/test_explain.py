"""`opsc explain` and `opsc schema` as a user runs them: short ids, the suppression line,
a pipe closed early."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace

import psycopg

from opsconductor.engine.model import Alert, Severity, Status, fingerprint
from opsconductor.engine.events import Decision, UnderRoot
from opsconductor.engine.store.direct import change_stored, store_alerts, store_decisions

OPSC = [sys.executable, "-m", "opsconductor.engine.cli"]
T0 = "2026-01-10T08:00:00+00:00"


def _alert(ip: str, title: str) -> Alert:
    from datetime import datetime

    at = datetime.fromisoformat(T0)
    return Alert(source_system="prtg", source_alert_id=ip, severity=Severity.MAJOR, category="network",
                 alert_type="device_down", title=title, occurred_at=at, received_at=at,
                 fingerprint=fingerprint("prtg", ip, "device_down", ""), device_ip=ip, device_name=title)


def explain(db_url: str, alert_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([*OPSC, "explain", alert_id, "--database-url", db_url], capture_output=True, text=True,
                          timeout=60)


def test_explain_takes_a_short_id_and_closes_its_parenthesis(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Random ids, whose first 8 characters differ (the engine's own are time-ordered).
        root, child = store_alerts(conn, [replace(_alert("10.0.0.1", "site1-switch"), id=str(uuid.uuid4())),
                                          replace(_alert("10.0.0.2", "cam-01"), id=str(uuid.uuid4()))])
        change_stored(conn, child, "suppressed", Status.SUPPRESSED, correlated_to_id=root,
                      correlation_rule="dependency:network")
        store_decisions(conn, [Decision(child, "dependency:network",
                                        UnderRoot(root, root_title="site1-switch unreachable"))])
    out = explain(db_url, child[:8])
    assert out.returncode == 0, out.stderr
    assert f"suppressed under {root} (site1-switch unreachable)" in out.stdout
    assert f"Alert {child}" in out.stdout
    dashed = explain(db_url, child[:13].upper())  # with the dash, as copied from a page
    assert dashed.returncode == 0 and f"Alert {child}" in dashed.stdout


def test_explain_says_when_a_short_id_is_ambiguous_or_unknown(db_url):
    ids = ["abcd0000-0000-4000-8000-000000000001", "abcd0000-0000-4000-8000-000000000002"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        for i, alert_id in enumerate(ids):
            conn.execute("INSERT INTO alerts (id, source_system, source_alert_id, severity, category, alert_type, title, occurred_at,"
                         " fingerprint, status) VALUES (%s, 'prtg', %s, 'minor', 'network', 't', %s, now(), %s, 'active')",
                         (alert_id, f"s{i}", f"a{i}", f"fp{i}"))
    both = explain(db_url, "abcd")
    assert both.returncode == 1 and "names two alerts" in both.stderr and "give more of the id" in both.stderr
    assert explain(db_url, ids[1][:-1] + "2").returncode == 0
    none = explain(db_url, str(uuid.UUID(int=7))[:9])
    assert none.returncode == 1 and "no alert" in none.stderr
    assert explain(db_url, "xyz").returncode == 1


def test_schema_into_a_pipe_closed_early():
    """`opsc schema rule | head`: the reader is gone before the writer writes (its end of the
    pipe closed first), so every write meets EPIPE, whatever the schema's size."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([*OPSC, "schema", "rule"], stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    err = done.stderr.decode()
    assert done.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
