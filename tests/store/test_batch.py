"""The pipeline's batch writer (COPY in text format): awkward text survives the round trip."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import psycopg

from opsconductor.engine.model import Alert, RawEvent, Severity, fingerprint
from opsconductor.engine.events import Cleared, Deduplicated, FlapStarted, Normalized
from opsconductor.engine.pipeline.effects import Decision, Effects
from opsconductor.engine.store.batch import write_batch
from waiting import DEADLINE

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
NASTY = 'tab\there, newline\nthere, back\\slash, "quotes", \\N, carriage\r, ünïcødé ✓'


def test_text_copy_round_trip(db_url: str) -> None:
    payload = {"message": NASTY, "nested": {"k": NASTY}, "varbinds": [{"oid": "1.3", "value": NASTY}]}
    event = RawEvent("e-1", "traps", "snmp_trap", NOW, "10.0.0.1", payload)
    alert = Alert(id=str(uuid.uuid4()), source_system="snmp_trap", source_alert_id="x", severity=Severity.MAJOR,
                  category="network", alert_type="link_down", title=NASTY[:200], message=NASTY,
                  occurred_at=NOW, received_at=NOW, fingerprint=fingerprint("snmp_trap", "10.0.0.1", "link_down", ""),
                  device_ip="10.0.0.1", raw_data=payload, tags=("a\tb", "c\\d"), connector="traps")
    effects = [Effects(event, created=(alert,), decisions=(Decision(alert.id, NASTY, Cleared(NASTY, NASTY)),))]
    with psycopg.connect(db_url) as conn:
        result = write_batch(conn, [event], effects, None)
        assert result.touched == (alert.id,) and result.conflicts == ()
        raw = conn.execute("SELECT payload FROM raw_events WHERE event_id = 'e-1'").fetchone()[0]
        title, message, data, tags = conn.execute(
            "SELECT title, message, raw_data, tags FROM alerts WHERE id = %s", (alert.id,)).fetchone()
        rule, detail = conn.execute("SELECT rule, detail FROM alert_decisions WHERE alert_id = %s", (alert.id,)).fetchone()
        history = conn.execute("SELECT action FROM alert_history WHERE alert_id = %s", (alert.id,)).fetchall()
    assert raw == payload and data == payload
    assert (title, message, tags) == (NASTY[:200], NASTY, ["a\tb", "c\\d"])
    assert (rule, detail) == (NASTY, Cleared(NASTY, NASTY).encode())
    assert history == [("created",)]


def test_same_fingerprint_already_open_is_reported_not_failed(db_url: str) -> None:
    def alert() -> Alert:
        return Alert(id=str(uuid.uuid4()), source_system="s", source_alert_id="x", severity=Severity.MINOR,
                     category="network", alert_type="t", title="t", occurred_at=NOW, received_at=NOW, fingerprint="f" * 64)
    first, second = alert(), alert()
    with psycopg.connect(db_url) as conn:
        write_batch(conn, [], [Effects(None, created=(first,))], None)
        result = write_batch(conn, [], [Effects(None, created=(second,),
                                                decisions=(Decision(second.id, "r", Normalized("s", "t")),))], None)
        assert result.conflicts == (second.id,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1


def test_repeats_of_one_alert_in_a_batch_leave_one_dedup_row(db_url: str) -> None:
    """Three repeats in one batch: one trail row standing for three, after the rows before it."""
    from opsconductor.engine.model import evolve
    from opsconductor.engine.store.decisions import list_decisions

    alert = Alert(id=str(uuid.uuid4()), source_system="s", source_alert_id="x", severity=Severity.MINOR,
                  category="network", alert_type="t", title="t", occurred_at=NOW, received_at=NOW, fingerprint="e" * 64)
    other = evolve(alert, id=str(uuid.uuid4()), fingerprint="d" * 64)
    repeats = [Effects(None, occurrences=(evolve(alert, occurrence_count=n),),
                       decisions=(Decision(alert.id, "dedup", Deduplicated(n)),))
               for n in (2, 3, 4)]
    once = Effects(None, occurrences=(evolve(other, occurrence_count=2),),
                   decisions=(Decision(other.id, "dedup", Deduplicated(2)),))
    with psycopg.connect(db_url) as conn:
        write_batch(conn, [], [Effects(None, created=(alert, other),
                                       decisions=(Decision(alert.id, "map", Normalized("s", "t")),))], None)
        write_batch(conn, [], [repeats[0], once, *repeats[1:]], None)
        trail = [(d.stage, d.rule, d.event) for d in list_decisions(conn, alert.id)]
        assert [(d.rule, d.event) for d in list_decisions(conn, other.id)] == [("dedup", Deduplicated(2))]
        count = conn.execute("SELECT occurrence_count FROM alerts WHERE id = %s", (alert.id,)).fetchone()[0]
    assert trail == [("normalize", "map", Normalized("s", "t")), ("correlate", "dedup", Deduplicated(4, occurrences=3))]
    assert count == 4


def test_a_repeat_that_moved_the_severity_stores_it(db_url: str) -> None:
    """Escalated by one batch's last repeat, de-escalated by the next batch's: the row follows."""
    from opsconductor.engine.model import evolve

    alert = Alert(id=str(uuid.uuid4()), source_system="s", source_alert_id="x", severity=Severity.MAJOR,
                  category="power", alert_type="on_battery", title="t", occurred_at=NOW, received_at=NOW,
                  fingerprint="c" * 64)
    with psycopg.connect(db_url) as conn:
        write_batch(conn, [], [Effects(None, created=(alert,))], None)
        write_batch(conn, [], [Effects(None, occurrences=(evolve(alert, occurrence_count=2, severity=Severity.MINOR),)),
                               Effects(None, occurrences=(evolve(alert, occurrence_count=3,
                                                                 severity=Severity.CRITICAL),))], None)
        up = conn.execute("SELECT severity, occurrence_count FROM alerts WHERE id = %s", (alert.id,)).fetchone()
        write_batch(conn, [], [Effects(None, occurrences=(evolve(alert, occurrence_count=4, severity=Severity.MINOR),))],
                    None)
        down = conn.execute("SELECT severity FROM alerts WHERE id = %s", (alert.id,)).fetchone()[0]
    assert up == ("critical", 3) and down == "minor"


def test_the_flapping_mark_is_stored_on_the_row_and_in_the_trail_not_the_history(db_url: str) -> None:
    from opsconductor.engine.model import Status, evolve
    from opsconductor.engine.pipeline.effects import FLAPPING, Change

    alert = Alert(id=str(uuid.uuid4()), source_system="s", source_alert_id="x", severity=Severity.MAJOR,
                  category="network", alert_type="link_down", title="t", occurred_at=NOW, received_at=NOW,
                  fingerprint="b" * 64, custom_fields={"ifname": "ge-0/0/1"})
    marked = evolve(alert, custom_fields={"ifname": "ge-0/0/1", "flapping": True, "flap_count": 5,
                                          "flap_state": "clear"})
    with psycopg.connect(db_url) as conn:
        write_batch(conn, [], [Effects(None, created=(alert,))], None)
        write_batch(conn, [], [Effects(None, changes=(Change(marked, FLAPPING, Status.ACTIVE),),
                                       decisions=(Decision(alert.id, "flapping", FlapStarted(5, 60.0)),))],
                    None)
        fields, status = conn.execute("SELECT custom_fields, status FROM alerts WHERE id = %s", (alert.id,)).fetchone()
        history = conn.execute("SELECT action FROM alert_history WHERE alert_id = %s", (alert.id,)).fetchall()
        trail = conn.execute("SELECT rule FROM alert_decisions WHERE alert_id = %s", (alert.id,)).fetchall()
    assert fields == {"ifname": "ge-0/0/1", "flapping": True, "flap_count": 5, "flap_state": "clear"}
    assert status == "active" and history == [("created",)] and trail == [("flapping",)]


def test_a_batch_tells_dashboards_and_the_notifier_at_its_commit(db_url: str) -> None:
    """One batch with a notification: both channels hear of it (one statement sends both);
    a batch without one wakes the dashboards only; the notifier is told nothing for it."""
    from opsconductor.engine.pipeline.effects import FIRING, Notification
    from opsconductor.engine.store.alerts import NOTIFY_CHANNEL
    from opsconductor.engine.store.outbox import OUTBOX_CHANNEL

    def alert(mark: str) -> Alert:
        return Alert(id=str(uuid.uuid4()), source_system="s", source_alert_id=mark, severity=Severity.MAJOR,
                     category="network", alert_type="t", title=mark, occurred_at=NOW, received_at=NOW,
                     fingerprint=mark * 64)

    def heard(listener: psycopg.Connection) -> list[tuple[str, str]]:
        """What the last batch sent: PostgreSQL delivers notifications in commit order, so all
        of them come before this NOTIFY, committed after the batch's."""
        listener.execute("NOTIFY opsc_test_barrier")
        got = []
        for n in listener.notifies(timeout=DEADLINE):
            if n.channel == "opsc_test_barrier":
                return got
            got.append((n.channel, n.payload))
        raise AssertionError(f"the barrier notification never came; heard {got}")

    paged, quiet = alert("a"), alert("b")
    with psycopg.connect(db_url, autocommit=True) as listener, psycopg.connect(db_url) as conn:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        listener.execute("LISTEN opsc_test_barrier")
        write_batch(conn, [], [Effects(None, created=(paged,), notifications=(
            Notification(paged, "r", "hook", FIRING, NOW),))], None)
        assert sorted(heard(listener)) == sorted([(NOTIFY_CHANNEL, paged.id), (OUTBOX_CHANNEL, "")])
        write_batch(conn, [], [Effects(None, created=(quiet,))], None)
        assert heard(listener) == [(NOTIFY_CHANNEL, quiet.id)]


def test_a_conflicting_batch_is_written_once_with_its_other_rows(db_url: str) -> None:
    """The first try inserts new alerts without a savepoint; a fingerprint already open in the
    database fails it, and the batch is written again through the staging table: the raw
    event, the other new alert and its trail are stored once, the conflict is reported."""
    def alert(fp: str) -> Alert:
        return Alert(id=str(uuid.uuid4()), source_system="s", source_alert_id=fp, severity=Severity.MINOR,
                     category="network", alert_type="t", title="t", occurred_at=NOW, received_at=NOW, fingerprint=fp * 64)
    stored, clash, fresh = alert("a"), alert("a"), alert("b")
    event = RawEvent("e-conflict", "traps", "snmp_trap", NOW, "10.0.0.1", {"k": "v"})
    with psycopg.connect(db_url) as conn:
        write_batch(conn, [], [Effects(None, created=(stored,))], None)
        result = write_batch(conn, [event], [Effects(event, created=(clash, fresh), decisions=(
            Decision(fresh.id, "r", Normalized("s", "t")), Decision(clash.id, "r", Normalized("s", "t"))))], None)
        assert result.conflicts == (clash.id,) and fresh.id in result.touched
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM raw_events WHERE event_id = 'e-conflict'),"
            " (SELECT count(*) FROM alerts WHERE id = %s), (SELECT count(*) FROM alerts WHERE id = %s),"
            " (SELECT count(*) FROM alert_decisions WHERE alert_id = %s),"
            " (SELECT count(*) FROM alert_history WHERE alert_id = %s)", (fresh.id, clash.id, fresh.id, fresh.id)
        ).fetchone()
    assert counts == (1, 1, 0, 1, 1)
