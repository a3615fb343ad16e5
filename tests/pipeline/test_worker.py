"""The worker end to end on real PostgreSQL: queue → pipeline → one transaction per batch
→ notifier; then `opsc explain` reads the trail back."""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from pipeline_helpers import COLD_START, IF_INDEX, LINK_DOWN, LINK_UP, trap

from opsconductor.engine.connectors.registry import NORMALIZERS
from opsconductor.engine.events import Notified
from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.base import Backpressure
from opsconductor.engine.explain import explain_text
from opsconductor.engine.model import RawEvent
from opsconductor.engine.notify.notifier import Notifier
from opsconductor.engine.pipeline.pipeline import Pipeline
from opsconductor.engine.worker import PipelineWorker
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.store.alerts import get_alert
from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.decisions import list_decisions
from opsconductor.engine.store.notification_log import list_notifications

ROOT = Path(__file__).resolve().parents[2]


def switch_unreachable():
    """What the reachability monitor's webhook hands the pipeline (see connectors.d/monitoring-webhook.yaml)."""
    from pipeline_helpers import T0

    return RawEvent("monitor-1", "monitoring", "webhook", T0, None, {
        "format": "generic", "item": {"host": "10.20.0.2"},
        "fields": {"device_ip": "10.20.0.2", "alert_type": "device_unreachable", "severity": "major",
                   "category": "network", "title": "Device Unreachable - site1-switch"}})


@pytest.fixture
def engine(db_url):
    bundle = load_bundle(ROOT)
    with psycopg.connect(db_url) as conn:
        version = record_applied(conn, content_hash=bundle.content_hash, files=bundle.files)
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS, version_id=version.id)
    connect = lambda: psycopg.connect(db_url)  # noqa: E731  (notifier: per batch; worker: kept open)
    notifier = Notifier(connect, lambda: bundle, dry_run=True)  # no SMTP server here
    worker = PipelineWorker(pipeline.held, db_url, notifier.wake, max_queue=100, tick_every=0.2)
    notifier.start()
    worker.start()
    yield worker, notifier, db_url, version.id
    worker.stop()
    notifier.stop()
    pipeline.close()


def rows(db_url: str, query: str, *params):
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def test_batch_is_persisted_with_history_decisions_and_notifications(engine) -> None:
    worker, notifier, db_url, version_id = engine
    worker.submit([trap(LINK_DOWN, "10.20.0.2", [(f"{IF_INDEX}.1", 1)]),
                   switch_unreachable(),
                   trap(COLD_START, "10.20.1.11", at=1),
                   trap(LINK_DOWN, "10.20.0.2", [(f"{IF_INDEX}.1", 1)], at=2)])
    assert worker.drain()
    alerts = rows(db_url, "SELECT alert_type, status, occurrence_count, config_version_id, correlated_to_id::text, id::text"
                          " FROM alerts ORDER BY received_at, alert_type")
    (switch, _, _, _, _, switch_id), (link, l_status, l_count, l_version, _, link_id), (cam, c_status, _, _, c_root, _) = alerts
    assert (link, l_status, l_count, l_version) == ("link_down", "active", 2, version_id)
    assert switch == "device_unreachable"
    assert (cam, c_status, c_root) == ("cold_start", "suppressed", switch_id)
    assert rows(db_url, "SELECT count(*) FROM raw_events")[0][0] == 4

    worker.submit([trap(LINK_UP, "10.20.0.2", [(f"{IF_INDEX}.1", 1)], at=10)])
    assert worker.drain()
    notifier.stop()  # flush the notification log
    with psycopg.connect(db_url) as conn:
        record = get_alert(conn, link_id)
        assert record.alert.status.value == "resolved" and record.resolved_by == "OpsConductor engine"
        assert [h.action.value for h in record.history] == ["created", "occurrence", "cleared"]
        notes = list_notifications(conn, link_id)
        assert [(n.channel, n.status) for n in notes] == [("noc-email", "skipped"), ("noc-email", "skipped")]
        trail = explain_text(record, list_decisions(conn, link_id), notes)
    assert "normalized by  oidmaps/standard.yaml:19" in trail
    assert "routed by      email-major-network [v" in trail and "→ noc-email" in trail
    assert "correlated by  oidmaps/standard.yaml:30" in trail  # the linkUp map that cleared it


def test_back_pressure_is_explicit(engine) -> None:
    worker, _, _, _ = engine
    too_many = [trap(COLD_START, f"10.99.0.{i % 250}", at=i) for i in range(101)]
    with pytest.raises(Backpressure):
        worker.submit(too_many)
    assert worker.stats.rejected == 101
    with pytest.raises(Backpressure):  # offered again (a trap receiver retries): counted once per event
        worker.submit(too_many)
    assert worker.stats.rejected == 101 and worker.depth() == 0


def test_explain_cli(engine) -> None:
    worker, _, db_url, _ = engine
    worker.submit([trap(COLD_START, "10.20.0.1")])
    assert worker.drain()
    (alert_id,) = rows(db_url, "SELECT id::text FROM alerts")[0]
    out = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "explain", alert_id, "--database-url", db_url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Device Cold Start - site1-router" in out.stdout and "normalized by" in out.stdout
    missing = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "explain",
                              "00000000-0000-4000-8000-000000000000", "--database-url", db_url],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no alert" in missing.stderr


def test_hostile_vendor_values_are_stored_not_stalling_the_worker(engine) -> None:
    """NUL characters, NaN, overlong fields: the batch is written (values made storable)
    and the next events still flow."""
    worker, _, db_url, _ = engine
    from pipeline_helpers import T0

    hostile = RawEvent("hostile-1", "monitoring", "webhook", T0, None, {
        "format": "generic", "item": {"host": "10.20.0.9", "nan": float("nan"), "nul": "a\x00b"},
        "fields": {"device_ip": "10.20.0.9", "alert_type": "x" * 300, "severity": "major", "category": "network",
                   "title": "T\x00itle " + "y" * 400, "device_name": "dev\x00ice", "message": "m\x00"}})
    worker.submit([hostile, trap(COLD_START, "10.20.0.1", at=1)])
    assert worker.drain()
    assert worker.stats.write_retries == 0
    rows_ = rows(db_url, "SELECT alert_type, title, device_name, message, raw_data FROM alerts ORDER BY received_at")
    alert_type, title, device_name, message, raw = rows_[0]
    assert len(alert_type) <= 100
    assert title.startswith("Title yyy") and len(title) <= 255 and device_name == "device" and message == "m"
    assert raw["nan"] is None and raw["nul"] == "ab"  # raw_data is the webhook item
    assert rows_[1][0] == "cold_start"
    assert rows(db_url, "SELECT count(*) FROM raw_events")[0][0] == 2


def test_a_bad_alert_is_isolated_and_the_rest_of_its_batch_is_stored(engine) -> None:
    """A data error (here: a decision about an alert that does not exist): the batch is
    written again alert by alert; that alert alone is left out and reported, the raw events
    and the batch's other alerts are stored, and later batches flow."""
    from opsconductor.engine.events import Notified
    from opsconductor.engine.pipeline.effects import Decision, Effects

    from opsconductor.engine.store.batch import prepare_batch
    from opsconductor.engine.store.writer import RecordWriter

    worker, _, db_url, version_id = engine
    bundle = load_bundle(ROOT)
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS, version_id=version_id)
    good = [trap(COLD_START, f"10.77.0.{i}", at=i) for i in range(1, 4)]
    effects = [pipeline.process(e) for e in good]
    event = trap(COLD_START, "10.20.0.1")
    dead = "00000000-0000-4000-8000-00000000dead"
    poison = Effects(event, decisions=(Decision(dead, "r", Notified(("slack",))),))
    logged: list = []
    writer = RecordWriter(lambda: psycopg.connect(db_url), report_log=lambda level, msg: logged.append(level),
                          sleep=lambda s: None)  # the writer process's own step, run here
    report = writer.write(prepare_batch([*good, event], [*effects, poison], version_id))
    writer.close()
    pipeline.close()
    assert report.retries == 1 and not report.raw_only and report.failed == (dead,)
    assert logged == [logging.ERROR, logging.CRITICAL]
    assert rows(db_url, "SELECT count(*) FROM raw_events")[0][0] == 4
    assert rows(db_url, "SELECT count(*) FROM alerts WHERE alert_type = 'cold_start'")[0][0] == 3
    worker.submit([trap(COLD_START, "10.20.0.2", at=1)])
    assert worker.drain()
    assert rows(db_url, "SELECT count(*) FROM alerts")[0][0] == 4


def flap(device: str, at: float) -> list[RawEvent]:
    down = [(f"{IF_INDEX}.7", 7)]
    return [trap(LINK_DOWN, device, down, at=at), trap(LINK_UP, device, down, at=at + 1),
            trap(LINK_DOWN, device, down, at=at + 2)]


def test_a_flap_inside_one_batch_lands_in_order(engine) -> None:
    """problem → clear → problem of one fingerprint in ONE batch (and clear → problem of an
    alert stored before): rows land in their final state, one open alert per fingerprint,
    nothing left out; the next batch counts a repeat on the open one."""
    from opsconductor.engine.store.batch import prepare_batch
    from opsconductor.engine.store.writer import RecordWriter

    _, _, db_url, version_id = engine
    pipeline = Pipeline(load_bundle(ROOT), RulesHost(), normalizers=NORMALIZERS, version_id=version_id)
    writer = RecordWriter(lambda: psycopg.connect(db_url), sleep=lambda s: None)

    def batch(events: list[RawEvent]):
        return writer.write(prepare_batch(events, [pipeline.process(e) for e in events], version_id))

    down = [(f"{IF_INDEX}.7", 7)]
    assert batch([trap(LINK_DOWN, "10.77.1.2", down)]).retries == 0  # stored before the flap below
    first = batch([*flap("10.77.1.1", 10), trap(LINK_UP, "10.77.1.2", down, at=10),
                   trap(LINK_DOWN, "10.77.1.2", down, at=11), trap(COLD_START, "10.77.1.3", at=12)])
    assert (first.retries, first.failed, first.conflicts, first.raw_only) == (0, (), (), False)
    second = batch([trap(LINK_DOWN, "10.77.1.1", down, at=20), trap(COLD_START, "10.77.1.4", at=21)])
    assert (second.retries, second.failed) == (0, ())
    writer.close()
    stored = rows(db_url, "SELECT device_ip, alert_type, status, occurrence_count, resolved_at IS NOT NULL"
                          " FROM alerts ORDER BY device_ip, received_at")
    assert stored == [("10.77.1.1", "link_down", "resolved", 1, True), ("10.77.1.1", "link_down", "active", 2, False),
                      ("10.77.1.2", "link_down", "resolved", 1, True), ("10.77.1.2", "link_down", "active", 1, False),
                      ("10.77.1.3", "cold_start", "active", 1, False), ("10.77.1.4", "cold_start", "active", 1, False)]
    history = rows(db_url, "SELECT a.device_ip, a.status, array_agg(h.action ORDER BY h.seq)"
                           " FROM alerts a JOIN alert_history h ON h.alert_id = a.id"
                           " WHERE a.alert_type = 'link_down' GROUP BY a.id ORDER BY 1, a.received_at")
    assert [h[2] for h in history] == [["created", "cleared"], ["created", "occurrence"],
                                       ["created", "cleared"], ["created"]]
    open_in_db = {r[0] for r in rows(db_url, "SELECT id::text FROM alerts WHERE status <> 'resolved'")}
    assert set(pipeline.state.by_id) == open_in_db
    pipeline.close()


def test_flapping_links_in_a_busy_batch_lose_no_other_alert(engine) -> None:
    """The issue's figure: 20 links flapping among 20 other devices' problems → 60 alerts."""
    worker, _, db_url, _ = engine
    events = [e for i in range(20) for e in (*flap(f"10.77.2.{i}", i), trap(COLD_START, f"10.77.3.{i}", at=i))]
    worker.submit(events)
    assert worker.drain()
    assert worker.stats.write_retries == 0
    assert rows(db_url, "SELECT status, count(*) FROM alerts GROUP BY 1 ORDER BY 1") == [("active", 40), ("resolved", 20)]
    worker.submit([trap(COLD_START, "10.77.4.1", at=50)])  # later batches flow
    assert worker.drain()
    assert rows(db_url, "SELECT count(*) FROM alerts")[0][0] == 61


def test_dropped_events_are_not_stored(engine) -> None:
    from opsconductor.engine.pipeline.effects import Effects
    from opsconductor.engine.worker import PipelineWorker

    kept = trap(COLD_START, "10.20.0.1")
    gone = trap("1.3.6.1.4.1.99999.1", "10.20.0.1")
    assert PipelineWorker._kept([kept, gone], [Effects(kept), Effects(gone, dropped=1)]) == [kept]


def command(worker, alert_id: str, verb: str, note: str | None = None):
    """What the API does: a command on the engine's queue, awaited until it is committed."""
    from opsconductor.engine.pipeline.commands import OperatorCommand, Verb

    return worker.command(OperatorCommand(alert_id, Verb(verb), "token:otto", "otto", note)).result(timeout=60)


def test_an_operator_resolve_is_a_command_and_a_recurrence_is_a_new_alert(engine) -> None:
    from opsconductor.engine.pipeline.commands import Outcome

    worker, notifier, db_url, _ = engine
    down = [(f"{IF_INDEX}.1", 1)]
    worker.submit([trap(LINK_DOWN, "10.20.0.2", down)])
    assert worker.drain()
    notifier.flush(time.monotonic() + 3600)  # the page went out (its group_wait over) before the resolve
    (first,) = [r[0] for r in rows(db_url, "SELECT id::text FROM alerts")]
    answer = command(worker, first, "resolve", "fixed the patch cable")
    assert (answer.outcome, answer.old_status.value, answer.new_status.value) == (Outcome.APPLIED, "active", "resolved")
    # Answered once committed: the row, its history (who, the note) are there.
    assert rows(db_url, "SELECT status, resolved_by FROM alerts WHERE id = %s", first) == [("resolved", "otto")]
    assert rows(db_url, "SELECT action, user_id, user_name, notes FROM alert_history WHERE alert_id = %s"
                        " ORDER BY seq", first) == [("created", "opsc", "OpsConductor engine", None),
                                                    ("resolved", "token:otto", "otto", "fixed the patch cable")]
    worker.submit([trap(LINK_DOWN, "10.20.0.2", down, at=5)])
    assert worker.drain()
    alerts = rows(db_url, "SELECT id::text, status, occurrence_count FROM alerts ORDER BY received_at")
    assert [(a[1], a[2]) for a in alerts] == [("resolved", 1), ("active", 1)]
    notifier.stop()  # flush the notification log
    with psycopg.connect(db_url) as conn:
        told = [n.channel for n in list_notifications(conn, first)]
        trail = [(d.stage, d.rule, d.event) for d in list_decisions(conn, first)]
    assert told == ["noc-email", "noc-email"]  # the page, then: resolved (whoever was told hears it)
    assert ("route", "resolved", Notified(("noc-email",))) in trail


def test_commands_the_view_refuses_are_answered_and_write_nothing(engine) -> None:
    """Acknowledging twice, resolving a resolved alert, an unknown id: answered, not written
    (the API makes them 409 / 404)."""
    from opsconductor.engine.ids import new_id
    from opsconductor.engine.pipeline.commands import Outcome

    worker, _, db_url, _ = engine
    worker.submit([trap(LINK_DOWN, "10.20.0.3", [(f"{IF_INDEX}.2", 2)])])
    assert worker.drain()
    (alert_id,) = [r[0] for r in rows(db_url, "SELECT id::text FROM alerts")]
    assert command(worker, alert_id, "acknowledge", "on it").outcome is Outcome.APPLIED
    again = command(worker, alert_id, "acknowledge")
    assert (again.outcome, again.old_status.value) == (Outcome.REFUSED, "acknowledged")
    assert command(worker, alert_id, "resolve").outcome is Outcome.APPLIED
    assert command(worker, alert_id, "resolve").outcome is Outcome.NOT_OPEN
    assert command(worker, new_id(), "acknowledge").outcome is Outcome.NOT_OPEN
    assert rows(db_url, "SELECT status, acknowledged_by, resolved_by FROM alerts") == [("resolved", "otto", "otto")]
    assert [r[0] for r in rows(db_url, "SELECT action FROM alert_history ORDER BY seq")] == [
        "created", "acknowledged", "resolved"]


def test_an_alert_the_database_refused_does_not_stay_open_in_memory(engine) -> None:
    """Another writer holds an open alert with the fingerprint: the engine's new alert is a
    conflict, not stored; the view forgets it (its notifications are not sent)."""
    from opsconductor.engine.model import evolve
    from opsconductor.engine.store.direct import store_alerts

    worker, _, db_url, version_id = engine
    probe = Pipeline(load_bundle(ROOT), RulesHost(), normalizers=NORMALIZERS, version_id=version_id)
    (theirs,) = probe.process(trap(COLD_START, "10.77.5.1")).created
    probe.close()
    with psycopg.connect(db_url) as conn:
        store_alerts(conn, [evolve(theirs, id="00000000-0000-4000-8000-0000000000aa")])
    worker.submit([trap(COLD_START, "10.77.5.1", at=1), trap(COLD_START, "10.77.5.2", at=2)])
    assert worker.drain()
    assert worker.stats.conflicts == 1
    worker.submit([trap(COLD_START, "10.77.5.3", at=3)])  # a batch later the view has caught up
    assert worker.drain()
    with worker._hold() as pipeline:  # the pipeline the worker runs
        view = pipeline.state
    assert theirs.fingerprint not in view.by_fp
    assert {a.device_ip for a in view.by_id.values()} >= {"10.77.5.2", "10.77.5.3"}
    assert rows(db_url, "SELECT count(*) FROM alerts WHERE device_ip = '10.77.5.1'")[0][0] == 1


def test_with_a_journal_events_spool_beyond_memory_and_all_are_stored_once(db_url, tmp_path) -> None:
    """The worker as `opsc serve` runs it: a journal, a memory queue of 50 events. 600 events
    in bursts spool to the journal and come back in order; every one stored once, and the
    journal lets every segment go."""
    from opsconductor.engine.intake.journal import Journal

    bundle = load_bundle(ROOT)
    with psycopg.connect(db_url) as conn:
        version = record_applied(conn, content_hash=bundle.content_hash, files=bundle.files)
    pipeline = Pipeline(bundle, RulesHost(), normalizers=NORMALIZERS, version_id=version.id)
    journal = Journal(tmp_path / "journal", segment_bytes=20_000)
    journal.open()
    worker = PipelineWorker(pipeline.held, db_url, lambda n: None, max_queue=50, journal=journal)
    worker.start()
    try:
        events = [trap(LINK_DOWN, "10.77.6.1", [(f"{IF_INDEX}.{i}", i)], at=i) for i in range(600)]
        for k in range(0, 600, 100):
            worker.submit(events[k:k + 100])
        assert worker.drain()
    finally:
        worker.stop()
        pipeline.close()
    assert worker.intake.spooled_total >= 100  # a burst of 100 never fits a memory of 50
    stored = rows(db_url, "SELECT event_id, count(*) FROM raw_events GROUP BY 1")
    assert sorted(e for e, n in stored if n == 1) == sorted(e.event_id for e in events)
    assert rows(db_url, "SELECT count(*) FROM alerts WHERE status = 'active'")[0][0] == 600
    assert journal.pending()[0] == 0 and len(list((tmp_path / "journal").glob("*.journal"))) <= 1
    journal.close()
    assert list((tmp_path / "journal").glob("*.journal")) == []


def test_silence_commands_are_written_and_one_the_database_refuses_is_undone(engine) -> None:
    """A silence is written in the batch's transaction and answered then; one whose row the
    database refuses (its number taken behind the engine's back) is answered with an error,
    the view forgets it, and the events around it are stored as ever."""
    from datetime import datetime, timedelta, timezone

    from opsconductor.engine.pipeline.commands import Outcome
    from opsconductor.engine.pipeline.silencing import CreateSilence, EndSilence
    from opsconductor.engine.worker import CommandNotStored

    worker, _, db_url, _ = engine
    now = datetime.now(timezone.utc)
    made = worker.command(CreateSilence(41, {"device_ip": "10.20.0.9"}, now, now + timedelta(hours=1), "otto",
                                        "cable swap")).result(timeout=60)
    assert made.outcome is Outcome.APPLIED
    assert rows(db_url, "SELECT id, created_by, deleted_at FROM silences") == [(41, "otto", None)]
    assert worker.command(EndSilence(41, "vera")).result(timeout=60).outcome is Outcome.APPLIED
    assert rows(db_url, "SELECT deleted_by FROM silences") == [("vera",)]

    worker.submit([trap(COLD_START, "10.20.0.1")])
    taken = worker.command(CreateSilence(41, {"device_ip": "10.20.0.9"}, now, now + timedelta(hours=1), "otto",
                                         "the same number again"))
    with pytest.raises(CommandNotStored):
        taken.result(timeout=60)
    assert worker.drain()
    assert rows(db_url, "SELECT count(*) FROM alerts") == [(1,)] and rows(db_url, "SELECT count(*) FROM silences") == [(1,)]
    assert worker.command(EndSilence(41, "vera")).result(timeout=60).outcome is Outcome.NOT_OPEN  # forgotten
