"""The alert aggregate on real PostgreSQL, written the one way the engine writes it
(Effects → prepare_batch → store_batch, engine/store/direct.py): new alerts, occurrences,
status changes with history, operators' commands, concurrent writers, the
one-open-alert-per-fingerprint index."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from opsconductor.engine.model import Alert, Severity, Status, evolve, fingerprint
from opsconductor.engine.pipeline.commands import OperatorCommand, Outcome, Verb
from opsconductor.engine.pipeline.effects import Change, Effects
from opsconductor.engine.store.alerts import ENGINE, Action, get_alert, load_active_alerts
from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.direct import run_command, store_alerts, store_changes, store_effects

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)
ALICE = ("u-alice", "Alice Operator")
BOB = ("u-bob", "Bob Operator")


def operator(conn, alert_id: str, verb: str, who=ALICE, note: str | None = None):
    return run_command(conn, OperatorCommand(alert_id, Verb(verb), *who, note))


def make_alert(n: int = 0, **changes) -> Alert:
    device = f"10.0.0.{n % 250 + 1}"
    base = Alert(
        source_system="snmp_trap",
        source_alert_id=f"trap-{n}",
        severity=Severity.MAJOR,
        category="network",
        alert_type="link_down",
        title=f"Interface Down - sw{n}",
        occurred_at=T0,
        received_at=T0 + timedelta(seconds=1),
        fingerprint=fingerprint("snmp_trap", device, "link_down", f"ifIndex={n}"),
        device_ip=device,
        device_name=f"sw{n}",
        resource_key=f"ifIndex={n}",
        tags=("core", "site-a"),
        custom_fields={"ifIndex": n},
        raw_data={"varbinds": [["1.3.6.1.2.1.2.2.1.1", n]]},
        connector="snmp-main",
    )
    return replace(base, **changes)


def stored(conn, *alerts: Alert) -> list[Alert]:
    ids = store_alerts(conn, alerts)
    return [replace(a, id=i) for a, i in zip(alerts, ids)]


def test_batch_insert_returns_ids_in_order_with_created_history(db_conn):
    version = record_applied(db_conn, content_hash="c" * 64)
    alerts = [make_alert(n, config_version_id=version.id) for n in range(100)]
    ids = store_alerts(db_conn, alerts)
    assert len(set(ids)) == 100
    for alert, alert_id in zip(alerts[:3], ids[:3]):
        record = get_alert(db_conn, alert_id)
        assert record.alert.source_alert_id == alert.source_alert_id
        assert record.alert.config_version_id == version.id
        assert record.alert.tags == ("core", "site-a")
        assert record.alert.custom_fields == {"ifIndex": alert.custom_fields["ifIndex"]}
        assert [h.action for h in record.history] == [Action.CREATED]
        assert record.history[0].new_status is Status.ACTIVE
        assert record.history[0].user_name == ENGINE.user_name


def test_repeats_count_occurrences_on_the_open_alert(db_conn):
    (a,) = stored(db_conn, make_alert(1))
    for n in (2, 3):  # one batch each, as the dedup stage hands them over
        repeat = evolve(a, occurrence_count=n, last_occurrence_at=T0 + timedelta(minutes=n))
        store_effects(db_conn, [Effects(None, occurrences=(repeat,))])
    record = get_alert(db_conn, a.id)
    assert record.alert.occurrence_count == 3
    assert record.alert.last_occurrence_at == T0 + timedelta(minutes=3)
    assert [h.action for h in record.history] == [Action.CREATED, Action.OCCURRENCE, Action.OCCURRENCE]


def test_partial_unique_index_allows_a_new_alert_after_resolve(db_conn):
    (first,) = stored(db_conn, make_alert(7))
    with pytest.raises(psycopg.errors.UniqueViolation), db_conn.transaction():
        # Written around the store on purpose: the index itself must refuse a second open alert.
        db_conn.execute(
            "INSERT INTO alerts (source_system, source_alert_id, severity, category, alert_type, title,"
            " occurred_at, fingerprint) SELECT source_system, 'x', severity, category, alert_type, title,"
            " occurred_at, fingerprint FROM alerts WHERE id = %s", (first.id,))  # fmt: skip
    assert operator(db_conn, first.id, "resolve").outcome is Outcome.APPLIED
    (again,) = stored(db_conn, make_alert(7))
    assert again.id != first.id
    assert [a.id for a in load_active_alerts(db_conn)] == [again.id]


def test_operators_commands_write_history_with_who_did_it(db_conn):
    (a,) = stored(db_conn, make_alert(3))
    ack = operator(db_conn, a.id, "acknowledge", ALICE, "looking at it")
    assert (ack.outcome, ack.old_status, ack.new_status) == (Outcome.APPLIED, Status.ACTIVE, Status.ACKNOWLEDGED)
    res = operator(db_conn, a.id, "resolve", BOB, "replaced the SFP")
    assert (res.old_status, res.new_status) == (Status.ACKNOWLEDGED, Status.RESOLVED)
    record = get_alert(db_conn, a.id)
    assert record.acknowledged_by == "Alice Operator" and record.acknowledged_at is not None
    assert record.resolved_by == "Bob Operator" and record.resolved_at is not None
    created, acked, resolved = record.history
    assert (acked.action, acked.user_id, acked.notes) == (Action.ACKNOWLEDGED, "u-alice", "looking at it")
    assert (acked.old_status, acked.new_status) == (Status.ACTIVE, Status.ACKNOWLEDGED)
    assert (resolved.action, resolved.user_name, resolved.notes) == (Action.RESOLVED, "Bob Operator", "replaced the SFP")
    assert resolved.changes == {"status": ["acknowledged", "resolved"]}
    assert load_active_alerts(db_conn) == []


def test_disallowed_commands_write_nothing(db_conn):
    (a, b) = stored(db_conn, make_alert(4), make_alert(5, status=Status.SUPPRESSED))
    assert operator(db_conn, a.id, "resolve").outcome is Outcome.APPLIED
    late = operator(db_conn, a.id, "acknowledge", BOB)
    assert late.outcome is Outcome.NOT_OPEN  # the API answers 409 with the stored status
    assert [h.action for h in get_alert(db_conn, a.id).history] == [Action.CREATED, Action.RESOLVED]
    refused = operator(db_conn, b.id, "acknowledge")
    assert (refused.outcome, refused.old_status) == (Outcome.REFUSED, Status.SUPPRESSED)
    assert [h.action for h in get_alert(db_conn, b.id).history] == [Action.CREATED]


def test_suppress_links_to_the_parent_and_clear_resolves(db_conn):
    parent, child = stored(db_conn, make_alert(10), make_alert(11))
    linked = evolve(child, status=Status.SUPPRESSED, correlated_to_id=parent.id, correlation_rule="upstream-down")
    store_changes(db_conn, [Change(linked, "suppressed", Status.ACTIVE)])
    record = get_alert(db_conn, child.id)
    assert record.alert.status is Status.SUPPRESSED
    assert record.alert.correlated_to_id == parent.id
    assert record.alert.correlation_rule == "upstream-down"
    assert record.history[-1].changes["correlation_rule"] == "upstream-down"
    store_changes(db_conn, [Change(evolve(linked, status=Status.RESOLVED), "cleared", Status.SUPPRESSED)])
    last = get_alert(db_conn, child.id).history[-1]
    assert (last.action, last.old_status, last.new_status) == (Action.CLEARED, Status.SUPPRESSED, Status.RESOLVED)


def test_unknown_alert(db_conn):
    assert get_alert(db_conn, "00000000-0000-0000-0000-000000000000") is None
    assert get_alert(db_conn, "not-a-uuid") is None
    assert operator(db_conn, "00000000-0000-0000-0000-000000000000", "resolve").outcome is Outcome.NOT_OPEN


def test_load_active_rebuilds_the_open_alerts(db_conn):
    alerts = stored(db_conn, *[make_alert(n) for n in range(5)])
    operator(db_conn, alerts[0].id, "resolve")
    operator(db_conn, alerts[1].id, "acknowledge")
    active = load_active_alerts(db_conn)
    assert {a.id for a in active} == {a.id for a in alerts[1:]}
    by_id = {a.id: a for a in active}
    assert by_id[alerts[1].id].status is Status.ACKNOWLEDGED
    assert by_id[alerts[2].id] == alerts[2]


def test_operators_resolving_one_alert_give_one_history_row(db_url):
    """The engine applies commands one after another: the first resolve wins, the others
    find no open alert (the API answers them 409)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        (a,) = stored(conn, make_alert(20))
        outcomes = [operator(conn, a.id, "resolve", (f"u{n}", f"op{n}")).outcome for n in range(8)]
        assert outcomes == [Outcome.APPLIED] + [Outcome.NOT_OPEN] * 7
        assert [h.action for h in get_alert(conn, a.id).history] == [Action.CREATED, Action.RESOLVED]


def test_concurrent_inserts_of_one_problem_make_one_open_alert(db_url):
    """Writers that each think the problem new (another process): one alert is stored, the
    others are reported as conflicts, never a failed batch; their other alerts are kept."""
    results = []
    start = threading.Barrier(6)

    def engine_process(n: int) -> None:
        shared = replace(make_alert(30), id=f"00000000-0000-4000-8000-{n:012d}")
        own = replace(make_alert(31 + n), id=f"00000000-0000-4000-9000-{n:012d}")
        with psycopg.connect(db_url, autocommit=True) as conn:
            start.wait()
            results.append(store_effects(conn, [Effects(None, created=(shared, own))]))

    threads = [threading.Thread(target=engine_process, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 6 and sorted(len(r.conflicts) for r in results) == [0, 1, 1, 1, 1, 1]
    with psycopg.connect(db_url) as conn:
        fp = make_alert(30).fingerprint
        assert conn.execute("SELECT count(*) FROM alerts WHERE fingerprint = %s", (fp,)).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 7


def test_long_titles_are_shortened_not_refused(db_conn):
    (a,) = stored(db_conn, make_alert(40, title="x" * 400))
    title = get_alert(db_conn, a.id).alert.title
    assert len(title) == 255 and title.endswith("…")
