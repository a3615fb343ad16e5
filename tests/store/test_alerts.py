"""The alert aggregate on real PostgreSQL: batched inserts, occurrences, status changes
with history, concurrency on one alert, the one-open-alert-per-fingerprint index."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from opsconductor.engine.model import Alert, Severity, Status, fingerprint
from opsconductor.engine.store.alerts import (
    ENGINE, Action, Actor, Occurrence, UnknownAlertError, acknowledge, clear, get_alert, insert_alerts,
    load_active_alerts, record_occurrences, resolve, suppress,
)  # fmt: skip
from opsconductor.engine.store.config_versions import record_applied

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)
ALICE = Actor(user_id="u-alice", user_name="Alice Operator")
BOB = Actor(user_id="u-bob", user_name="Bob Operator")


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


def test_batch_insert_returns_ids_in_order_with_created_history(db_conn):
    version = record_applied(db_conn, content_hash="c" * 64)
    alerts = [make_alert(n, config_version_id=version.id) for n in range(100)]
    results = insert_alerts(db_conn, alerts)
    assert len(results) == 100 and all(r.created for r in results)
    assert len({r.id for r in results}) == 100
    for alert, result in zip(alerts[:3], results[:3]):
        record = get_alert(db_conn, result.id)
        assert record.alert.source_alert_id == alert.source_alert_id
        assert record.alert.config_version_id == version.id
        assert record.alert.tags == ("core", "site-a")
        assert record.alert.custom_fields == {"ifIndex": alert.custom_fields["ifIndex"]}
        assert [h.action for h in record.history] == [Action.CREATED]
        assert record.history[0].new_status is Status.ACTIVE
        assert record.history[0].user_name == ENGINE.user_name


def test_same_fingerprint_twice_becomes_an_occurrence(db_conn):
    first, second = insert_alerts(db_conn, [make_alert(1), make_alert(1, occurred_at=T0 + timedelta(minutes=5))])
    assert first.created and not second.created
    assert second.id == first.id and second.occurrence_count == 2
    record = get_alert(db_conn, first.id)
    assert record.alert.occurrence_count == 2
    assert record.alert.last_occurrence_at == T0 + timedelta(minutes=5)
    assert [h.action for h in record.history] == [Action.CREATED, Action.OCCURRENCE]


def test_partial_unique_index_allows_a_new_alert_after_resolve(db_conn):
    (first,) = insert_alerts(db_conn, [make_alert(7)])
    with pytest.raises(psycopg.errors.UniqueViolation), db_conn.transaction():
        # Written around the store on purpose: the index itself must refuse a second open alert.
        db_conn.execute(
            "INSERT INTO alerts (source_system, source_alert_id, severity, category, alert_type, title,"
            " occurred_at, fingerprint) SELECT source_system, 'x', severity, category, alert_type, title,"
            " occurred_at, fingerprint FROM alerts WHERE id = %s", (first.id,))  # fmt: skip
    resolve(db_conn, first.id, actor=ALICE)
    (again,) = insert_alerts(db_conn, [make_alert(7)])
    assert again.created and again.id != first.id
    assert [a.id for a in load_active_alerts(db_conn)] == [again.id]


def test_record_occurrences_counts_open_alerts_only(db_conn):
    open_, done = insert_alerts(db_conn, [make_alert(1), make_alert(2)])
    clear(db_conn, done.id)
    counts = record_occurrences(db_conn, [
        Occurrence(open_.id, T0 + timedelta(minutes=1)),
        Occurrence(done.id, T0 + timedelta(minutes=1)),
        Occurrence(open_.id, T0 + timedelta(minutes=2)),
    ])  # fmt: skip
    assert counts == [2, None, 3]
    record = get_alert(db_conn, open_.id)
    assert record.alert.last_occurrence_at == T0 + timedelta(minutes=2)
    assert [h.action for h in record.history].count(Action.OCCURRENCE) == 2


def test_status_changes_write_history_with_who_did_it(db_conn):
    (a,) = insert_alerts(db_conn, [make_alert(3)])
    ack = acknowledge(db_conn, a.id, actor=ALICE, notes="looking at it")
    assert (ack.old_status, ack.new_status, ack.changed) == (Status.ACTIVE, Status.ACKNOWLEDGED, True)
    res = resolve(db_conn, a.id, actor=BOB, notes="replaced the SFP")
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


def test_disallowed_transition_writes_nothing(db_conn):
    (a,) = insert_alerts(db_conn, [make_alert(4)])
    resolve(db_conn, a.id, actor=ALICE)
    late = acknowledge(db_conn, a.id, actor=BOB)
    assert late.changed is False and late.new_status is Status.RESOLVED
    assert [h.action for h in get_alert(db_conn, a.id).history] == [Action.CREATED, Action.RESOLVED]


def test_suppress_links_to_the_parent_and_clear_resolves(db_conn):
    parent, child = insert_alerts(db_conn, [make_alert(10), make_alert(11)])
    change = suppress(db_conn, child.id, correlated_to_id=parent.id, correlation_rule="upstream-down")
    assert change.new_status is Status.SUPPRESSED
    record = get_alert(db_conn, child.id)
    assert record.alert.correlated_to_id == parent.id
    assert record.alert.correlation_rule == "upstream-down"
    assert record.history[-1].changes["correlation_rule"] == "upstream-down"
    cleared = clear(db_conn, child.id, notes="link_up trap")
    assert (cleared.action, cleared.old_status, cleared.new_status) == (Action.CLEARED, Status.SUPPRESSED,
                                                                        Status.RESOLVED)  # fmt: skip


def test_unknown_alert(db_conn):
    assert get_alert(db_conn, "00000000-0000-0000-0000-000000000000") is None
    assert get_alert(db_conn, "not-a-uuid") is None
    with pytest.raises(UnknownAlertError, match="00000000-0000-0000-0000-000000000000"):
        resolve(db_conn, "00000000-0000-0000-0000-000000000000", actor=ALICE)


def test_load_active_rebuilds_the_open_alerts(db_conn):
    results = insert_alerts(db_conn, [make_alert(n) for n in range(5)])
    resolve(db_conn, results[0].id, actor=ALICE)
    acknowledge(db_conn, results[1].id, actor=ALICE)
    active = load_active_alerts(db_conn)
    assert {a.id for a in active} == {r.id for r in results[1:]}
    by_id = {a.id: a for a in active}
    assert by_id[results[1].id].status is Status.ACKNOWLEDGED
    assert by_id[results[2].id] == replace(make_alert(2), id=results[2].id)


def test_two_operators_resolving_at_once_give_one_history_row(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        (a,) = insert_alerts(conn, [make_alert(20)])
    outcomes = []
    start = threading.Barrier(8)

    def operator(n: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            start.wait()
            outcomes.append(resolve(conn, a.id, actor=Actor(f"u{n}", f"op{n}")).changed)

    threads = [threading.Thread(target=operator, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == [False] * 7 + [True]
    with psycopg.connect(db_url) as conn:
        assert [h.action for h in get_alert(conn, a.id).history] == [Action.CREATED, Action.RESOLVED]


def test_concurrent_inserts_of_one_problem_make_one_open_alert(db_url):
    results = []
    start = threading.Barrier(6)

    def engine_process(n: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            start.wait()
            shared, _own = insert_alerts(conn, [make_alert(30), make_alert(31 + n)])
            results.append(shared)

    threads = [threading.Thread(target=engine_process, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 6 and len({r.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert sorted(r.occurrence_count for r in results) == [1, 2, 3, 4, 5, 6]
    with psycopg.connect(db_url) as conn:
        fp = make_alert(30).fingerprint
        assert conn.execute("SELECT count(*), max(occurrence_count) FROM alerts WHERE fingerprint = %s",
                            (fp,)).fetchone() == (1, 6)  # fmt: skip
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 7


def test_long_titles_are_shortened_not_refused(db_conn):
    (a,) = insert_alerts(db_conn, [make_alert(40, title="x" * 400)])
    title = get_alert(db_conn, a.id).alert.title
    assert len(title) == 255 and title.endswith("…")
