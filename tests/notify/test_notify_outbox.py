"""The outbox: a notification decided is delivered at-least-once, whatever happens to the
process, the memory bound or the database in between."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import psycopg
import pytest
from notify_helpers import (FAST, connector, eventually, load_tree, log_rows, make_alert, notification, outbox_count,
                            store_alerts)

from opsconductor.engine.notify.delivery import RetryPolicy
from opsconductor.engine.notify.notifier import Notifier
from opsconductor.engine.pipeline.effects import TELLS
from opsconductor.engine.store.notification_log import load_told
from opsconductor.engine.store.outbox import add_pending

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import psycopg
    from opsconductor.engine.config.loader import load_bundle
    from opsconductor.engine.notify.notifier import Notifier
    bundle = load_bundle(Path(sys.argv[1]), environ={"PD_KEY": "pd-key-1"})
    notifier = Notifier(lambda: psycopg.connect(sys.argv[2]), lambda: bundle)
    notifier.start()
    notifier.wake()
    print("started", flush=True)
    time.sleep(600)  # killed long before
""")


def test_kill_9_between_commit_and_delivery_resends_exactly_the_pending(sinks, tmp_path, db_url) -> None:
    channels = [{"name": "pd", "type": "pagerduty", "routing_key": "${env:PD_KEY}", "url": f"{sinks.http.url}/v2/enqueue",
                 "timeout": "30s"}]
    rules = [{"name": "page", "notify": {"channels": ["pd"]}}]
    bundle = load_tree(tmp_path, channels, rules, {"PD_KEY": "pd-key-1"})
    alerts = [make_alert(i) for i in range(6)]
    store_alerts(db_url, alerts)
    done = make_alert(99)
    store_alerts(db_url, [done])
    with psycopg.connect(db_url) as conn:  # committed with the alerts: the decisions to notify
        add_pending(conn, [notification(a, bundle, "page") for a in alerts])
    sinks.http.script("/v2/enqueue", *["hold"] * len(alerts))  # the receiver never answers the first process
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), db_url], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"started"
        eventually(lambda: len(sinks.http.seen("/v2/enqueue")) == len(alerts), "the first process sends every event")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    first = {r.json()["dedup_key"] for r in sinks.http.seen("/v2/enqueue")}
    assert outbox_count(db_url) == len(alerts) and log_rows(db_url) == []  # nothing acknowledged, nothing lost
    sinks.http.scripts.clear()
    sinks.http.release()
    sinks.http.requests.clear()

    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST)  # the restart
    notifier.start()
    notifier.flush()
    notifier.stop()
    again = [r.json() for r in sinks.http.delivered("/v2/enqueue")]
    assert sorted(e["dedup_key"] for e in again) == sorted(first) == sorted(a.fingerprint for a in alerts)
    assert all(e["event_action"] == "trigger" for e in again)
    assert done.fingerprint not in first  # only what was pending goes out again
    assert sorted((r["alert_id"], r["status"]) for r in log_rows(db_url)) == sorted((a.id, "sent") for a in alerts)
    assert outbox_count(db_url) == 0


@pytest.mark.slow
def test_a_10000_alert_storm_to_a_slow_sink_drops_nothing(sinks, tmp_path, db_url) -> None:
    channels = [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/slow", "storm_guard": False}]
    bundle = load_tree(tmp_path, channels, [{"name": "r", "notify": {"channels": ["hook"]}}])
    alerts = [make_alert(i) for i in range(10_000)]
    store_alerts(db_url, alerts)
    sinks.http.script("/slow", *["slow:0.2"] * 200)  # a receiver that stalls, then keeps up
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, max_in_flight=500)
    notifier.start()
    notifier.submit([notification(a, bundle, "r") for a in alerts])
    notifier.flush(timeout=600)
    notifier.stop()
    received = {r.json()["alerts"][0]["id"] for r in sinks.http.seen("/slow")}
    assert received == {a.id for a in alerts}
    assert (notifier.dropped, notifier.sent, outbox_count(db_url)) == (0, 10_000, 0)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(DISTINCT alert_id) FROM notification_log WHERE status = 'sent'"
                            ).fetchone()[0] == 10_000


def test_a_429_holds_only_its_own_channel(sinks, tmp_path, db_url) -> None:
    channels = [{"name": "limited", "type": "slack", "webhook_url": "${env:SLACK_URL}", "storm_guard": False},
                {"name": "other", "type": "webhook", "url": f"{sinks.http.url}/other"}]
    bundle = load_tree(tmp_path, channels, [{"name": "r", "notify": {"channels": ["limited", "other"]}}],
                       {"SLACK_URL": f"{sinks.http.url}/services/limited"})
    alerts = [make_alert(i) for i in range(3)]
    store_alerts(db_url, alerts)
    sinks.http.script("/services/limited", "429:30")
    notifier = Notifier(connector(db_url), lambda: bundle, policy=RetryPolicy(0.05, 0.2, retry_after_max=30.0))
    notifier.start()
    notifier.submit([notification(alerts[0], bundle, "r", channel="limited")])
    eventually(lambda: "limited" in notifier.status()["rate_limited"], "the 429 holds the channel")
    # A new message to the held channel waits for the gate; the other channel goes on.
    notifier.submit([notification(alerts[1], bundle, "r", channel="limited"),
                     notification(alerts[2], bundle, "r", channel="other")])
    eventually(lambda: sinks.http.delivered("/other"), "the other channel delivers")
    assert len(sinks.http.seen("/services/limited")) == 1  # the 429 only: nothing sent while held
    assert "limited" in notifier.status()["rate_limited"]
    notifier.stop(timeout=0.5)  # stops while the channel is held
    with psycopg.connect(db_url) as conn:
        waiting = conn.execute("SELECT alert_id::text, channel, attempts FROM notification_outbox ORDER BY alert_id"
                               ).fetchall()
    assert sorted((a, c) for a, c, _ in waiting) == sorted([(alerts[0].id, "limited"), (alerts[1].id, "limited")])
    assert {a: n for a, _, n in waiting}[alerts[0].id] == 1  # its attempt is marked on the row
    statuses = [(r["channel"], r["status"]) for r in log_rows(db_url)]
    assert ("other", "sent") in statuses and ("limited", "retrying") in statuses


def test_the_log_survives_a_database_blip_between_delivery_and_record(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/blip"}],
                       [{"name": "r", "notify": {"channels": ["hook"]}}])
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    down = [False]
    closed_port = f"postgresql://postgres@127.0.0.1:1/{db_url.rsplit('/', 1)[1]}"

    def connect():
        return psycopg.connect(closed_port if down[0] else db_url, connect_timeout=2)

    sinks.http.script("/blip", "hold")
    notifier = Notifier(connect, lambda: bundle, policy=FAST)
    notifier.start()
    notifier.submit([notification(alert, bundle, "r")])
    eventually(lambda: sinks.http.seen("/blip"), "the request reaches the receiver")
    down[0] = True  # PostgreSQL goes away: the notifier's connection is cut, new ones are refused
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    sinks.http.release()  # delivered now, while the log cannot be written
    eventually(lambda: notifier.sent == 1 and notifier.status()["database_errors"] > 0, "delivered during the outage")
    assert log_rows(db_url) == []
    down[0] = False
    eventually(lambda: log_rows(db_url), "the attempt is recorded once PostgreSQL is back")
    notifier.stop()
    assert [(r["alert_id"], r["status"]) for r in log_rows(db_url)] == [(alert.id, "sent")]
    assert outbox_count(db_url) == 0


def test_restart_rebuilds_who_was_told_from_delivered_and_pending_not_failed(tmp_path, db_url) -> None:
    from opsconductor.engine.store.notification_log import NotificationAttempt
    from opsconductor.engine.store.outbox import settle

    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}], [{"name": "r", "notify": {"channels": ["l"]}}])
    sent, pending, failed = make_alert(0), make_alert(1), make_alert(2)
    store_alerts(db_url, [sent, pending, failed])
    with psycopg.connect(db_url) as conn:
        add_pending(conn, [notification(pending, bundle, "r")])
        settle(conn, [NotificationAttempt(sent.id, "l", "log", "sent", "r", payload={"kind": "firing"}),
                      NotificationAttempt(failed.id, "l", "log", "failed", "r", payload={"kind": "firing"})], [])
        rows = {alert_id: (rule, channel) for alert_id, rule, channel, _ in load_told(conn, TELLS)}
    assert rows == {sent.id: ("r", "l"), pending.id: ("r", "l")}


def test_a_failed_delivery_does_not_start_a_throttle() -> None:
    from datetime import datetime, timezone

    from opsconductor.engine.pipeline.state import ActiveAlerts

    at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    state = ActiveAlerts()
    state.told("a1", "fp1", "r", "pager", None, at)
    state.told("a1", "fp1", "r", "mail", None, at)
    state.untold("a1", "fp1", "r", "pager", at)  # the pager failed, the mail went out: the rule told the alert
    assert state.last_notified[("r", "fp1")] == at and list(state.notified["a1"]) == [("r", "mail")]
    state.untold("a1", "fp1", "r", "mail", at)  # nobody was told
    assert ("r", "fp1") not in state.last_notified and "a1" not in state.notified


def test_a_commit_to_the_outbox_wakes_the_notifier_by_notify(sinks, tmp_path, db_url) -> None:
    """No wake() and no rescan (an hour apart here): LISTEN opsc_outbox alone brings the rows."""
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/listen"}],
                       [{"name": "r", "notify": {"channels": ["hook"]}}])
    alerts = [make_alert(i) for i in range(3)]
    store_alerts(db_url, alerts)
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, listen_url=db_url, rescan_every=3600.0)
    notifier.start()
    try:
        eventually(lambda: notifier.status()["listening"], "listening")
        for alert in alerts:  # three commits, as three pipeline batches
            with psycopg.connect(db_url) as conn:
                add_pending(conn, [notification(alert, bundle, "r")])
        eventually(lambda: len(sinks.http.delivered("/listen")) == 3, "the three delivered")
    finally:
        notifier.stop()
    assert outbox_count(db_url) == 0 and [r["status"] for r in log_rows(db_url)] == ["sent"] * 3
