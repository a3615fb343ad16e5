"""Parking: a notification whose quick retries are spent on a transient error waits in the
outbox for its next attempt, out of the notifier's hands, until the receiver is back or the
channel's retry window is over; a channel that is down is probed by one message at a time,
and it holds neither memory nor the reading of other channels. Driven by a fake clock and
flush(): the next-attempt times are that clock made wall time, nothing sleeps."""
from __future__ import annotations

import logging

import psycopg
from notify_helpers import (FAST, FakeClock, connector, eventually, load_tree, log_rows, make_alert, notification,
                            outbox_count, store_alerts)

from opsconductor.engine.metrics import Exposition
from opsconductor.engine.notify import report
from opsconductor.engine.notify.notifier import Notifier
from opsconductor.engine.notify.parking import ParkPolicy
from opsconductor.engine.pipeline.effects import TELLS
from opsconductor.engine.store.notification_log import load_told
from opsconductor.engine.store.outbox import add_pending
from opsconductor.web.notifications import troubled


def outbox(db_url: str) -> list[tuple]:
    """(channel, attempts, parked, last_error) of every row, oldest first."""
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT channel, attempts, next_attempt_at IS NOT NULL, last_error FROM notification_outbox"
                            " ORDER BY seq").fetchall()


def statuses(db_url: str, channel: str | None = None) -> list[str]:
    return [r["status"] for r in log_rows(db_url, channel)]


def hook(sinks, name: str = "hook", path: str = "/down", **keys) -> dict:
    return {"name": name, "type": "webhook", "url": f"{sinks.http.url}{path}", "storm_guard": False, **keys}


def test_a_receiver_down_longer_than_the_quick_retries_gets_the_page_when_it_is_back(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [hook(sinks, retries=2)], [{"name": "r", "notify": {"channels": ["hook"]}}])
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    sinks.http.normal["/down"] = (503, "maintenance")
    clock = FakeClock()
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=clock)
    notifier.start()
    try:
        notifier.submit([notification(alert, bundle, "r")])
        notifier.flush()
        assert statuses(db_url) == ["retrying"] * 3  # the quick retries: not failed, parked
        assert "quick retries spent, parked: next attempt in 30s" in log_rows(db_url)[-1]["error_message"]
        ((channel, attempts, parked, error),) = outbox(db_url)
        assert (channel, attempts, parked) == ("hook", 3, True) and "HTTP 503" in error
        assert notifier.pending() == 0  # out of the in-flight set between attempts
        status = notifier.status()
        assert list(status["channels_down"]) == ["hook"] and status["channels_down"]["hook"]["next_probe_seconds"] == 30
        assert "notification channel hook is down" in report.reasons(status)[0]
        out = Exposition()
        report.expose(out, status)
        assert 'opsc_notification_channel_down{channel="hook"} 1.0' in out.text()

        clock.t += 29
        notifier.flush()
        assert len(sinks.http.seen("/down")) == 3  # not due yet
        clock.t += 1
        notifier.flush()  # the probe: one attempt, still down; the wait doubles
        assert len(sinks.http.seen("/down")) == 4 and statuses(db_url) == ["retrying"] * 4
        assert "probe failed, parked: next attempt in 1m" in log_rows(db_url)[-1]["error_message"]

        sinks.http.normal["/down"] = (200, "ok")  # the receiver is back
        clock.t += 59
        notifier.flush()
        assert len(sinks.http.seen("/down")) == 4
        clock.t += 1
        notifier.flush()
        assert [r.json()["alerts"][0]["id"] for r in sinks.http.accepted("/down")] == [alert.id]
        assert notifier.status()["channels_down"] == {}
    finally:
        notifier.stop()
    assert statuses(db_url) == ["retrying"] * 4 + ["sent"]
    assert outbox_count(db_url) == 0 and (notifier.sent, notifier.failed) == (1, 0)


def test_a_dead_channel_with_5000_queued_does_not_stop_another_channel(sinks, tmp_path, db_url) -> None:
    channels = [hook(sinks, "dead", "/dead", retries=1), hook(sinks, "live", "/live")]
    bundle = load_tree(tmp_path, channels, [{"name": "r", "notify": {"channels": ["dead", "live"]}}])
    alerts = [make_alert(i) for i in range(5000)]
    store_alerts(db_url, alerts)
    sinks.http.normal["/dead"] = (503, "down")
    clock = FakeClock()
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=clock, max_in_flight=500,
                        channel_quota=100)
    # Every row of the dead channel comes before the live channel's in the outbox.
    notifier.submit([notification(a, bundle, "r", channel="dead") for a in alerts])
    notifier.submit([notification(a, bundle, "r", channel="live") for a in alerts[:20]])
    notifier.start()
    try:
        notifier.flush(timeout=120)
        assert len(sinks.http.delivered("/live")) == 20
        # One wave of quick retries (at most 32 messages at a time, 2 attempts each) took the
        # channel down; every other message of it waits without an attempt.
        assert len(sinks.http.seen("/dead")) <= 32 * 2
        rows = outbox(db_url)
        assert len(rows) == 5000 and {r[0] for r in rows} == {"dead"}
        assert 0 < sum(1 for r in rows if r[2]) <= 100  # parked: at most the channel's quota was ever in hand
        assert notifier.failed == 0 and notifier.pending() == 0

        sinks.http.normal["/dead"] = (200, "ok")
        clock.t += 30  # the probe gets through: the channel is up, and what waited follows
        notifier.flush(timeout=600)
    finally:
        notifier.stop()
    delivered = [r.json()["alerts"][0]["id"] for r in sinks.http.accepted("/dead")]
    assert sorted(delivered) == sorted(a.id for a in alerts)  # every one, once
    assert outbox_count(db_url) == 0 and notifier.failed == 0


def test_a_channel_that_hangs_holds_only_its_quota(sinks, tmp_path, db_url) -> None:
    channels = [hook(sinks, "hang", "/hang", retries=0, timeout="30s"), hook(sinks, "live", "/live")]
    bundle = load_tree(tmp_path, channels, [{"name": "r", "notify": {"channels": ["hang", "live"]}}])
    alerts = [make_alert(i) for i in range(300)]
    store_alerts(db_url, alerts)
    sinks.http.script("/hang", *["hold"] * 300)  # answers only when released
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, max_in_flight=100, channel_quota=20)
    notifier.submit([notification(a, bundle, "r", channel="hang") for a in alerts])
    notifier.submit([notification(a, bundle, "r", channel="live") for a in alerts[:5]])
    notifier.start()
    try:
        # Without the quota the first 100 rows, all of the hanging channel, would fill the
        # in-flight set and the live channel's rows would never be read.
        eventually(lambda: len(sinks.http.delivered("/live")) == 5, "the live channel delivers")
        eventually(lambda: notifier.pending() == 20, "the live rows settled; the hanging channel's quota in hand")
        assert notifier.status()["channels_at_quota"] == ["hang"]
        assert len(sinks.http.seen("/hang")) <= 20
    finally:
        sinks.http.release()
        notifier.stop()


def test_a_receiver_down_past_the_retry_window_fails_for_good(sinks, tmp_path, db_url, caplog) -> None:
    bundle = load_tree(tmp_path, [hook(sinks, retries=0, retry_for="5m")], [{"name": "r", "notify": {"channels": ["hook"]}}])
    first, second = make_alert(0), make_alert(1)
    store_alerts(db_url, [first, second])
    sinks.http.normal["/down"] = (503, "down")
    reported: list[tuple] = []
    clock = FakeClock()
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=clock, on_failed=reported.extend)
    notifier.start()
    try:
        notifier.submit([notification(first, bundle, "r")])
        notifier.flush()  # fails: the channel is down
        notifier.submit([notification(second, bundle, "r")])
        notifier.flush()  # not even read while the channel is down: it waits for the channel's probe
        assert len(sinks.http.seen("/down")) == 1 and statuses(db_url) == ["retrying"]
        assert [r[1:3] for r in outbox(db_url)] == [(1, True), (0, False)]
        while clock.t < 1000 + 600 and outbox_count(db_url):
            assert notifier.failed == 0 or clock.t >= 1300  # nothing fails within the window
            clock.t += 30
            notifier.flush()
    finally:
        notifier.stop()
    assert outbox_count(db_url) == 0 and notifier.failed == 2 and notifier.sent == 0
    rows = log_rows(db_url)
    first_rows = [r for r in rows if r["alert_id"] == first.id]
    assert [r["status"] for r in first_rows][-1] == "failed" and len(first_rows) > 3  # probed again and again
    assert "retried for 5m (retry_for): given up" in first_rows[-1]["error_message"]
    (second_row,) = [r for r in rows if r["alert_id"] == second.id]  # never attempted
    assert second_row["status"] == "failed" and "its retry window (5m) is over" in second_row["error_message"]
    assert sorted(r[0] for r in reported) == sorted([first.id, second.id])  # they told nobody: no throttle
    assert [r.levelno for r in caplog.records if "notification failed" in r.getMessage()] == [logging.ERROR] * 2


def test_a_resolve_never_overtakes_its_parked_trigger(sinks, tmp_path, db_url) -> None:
    channels = [{"name": "pd", "type": "pagerduty", "routing_key": "${env:PD_KEY}", "url": f"{sinks.http.url}/v2/enqueue",
                 "retries": 0}]
    bundle = load_tree(tmp_path, channels, [{"name": "r", "notify": {"channels": ["pd"]}}], {"PD_KEY": "pd-key-1"})
    paged, other = make_alert(0), make_alert(1)
    store_alerts(db_url, [paged, other])
    sinks.http.normal["/v2/enqueue"] = (503, "down")
    clock = FakeClock()
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=clock)
    notifier.submit([notification(paged, bundle, "r")])
    with psycopg.connect(db_url) as conn:  # decided 200 s ago: its next attempt is 200 s after this one
        conn.execute("UPDATE notification_outbox SET created_at = created_at - interval '200 seconds'")
    notifier.start()
    try:
        notifier.flush()
        notifier.submit([notification(other, bundle, "r")])
        notifier.flush()  # waits for the channel's probe
        sinks.http.normal["/v2/enqueue"] = (202, '{"status":"success"}')
        clock.t += 30
        notifier.flush()  # the other alert's event probes, gets through: the channel is up
        assert notifier.status()["channels_down"] == {}
        notifier.submit([notification(paged, bundle, "r", kind="resolved")])
        notifier.flush()
        events = [(r.json()["dedup_key"], r.json()["event_action"]) for r in sinks.http.accepted("/v2/enqueue")]
        assert events == [(other.fingerprint, "trigger")]  # the resolve waits behind its parked trigger
        clock.t += 170
        notifier.flush()
    finally:
        notifier.stop()
    events = [r.json()["event_action"] for r in sinks.http.accepted("/v2/enqueue") if
              r.json()["dedup_key"] == paged.fingerprint]
    assert events == ["trigger", "resolve"] and outbox_count(db_url) == 0


def test_after_a_restart_parked_rows_go_out_when_due_and_in_order(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [hook(sinks, retries=0)], [{"name": "r", "notify": {"channels": ["hook"]}}])
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    sinks.http.normal["/down"] = (503, "down")
    first = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=FakeClock(), parking=ParkPolicy(first=300))
    first.start()
    first.submit([notification(alert, bundle, "r")])
    first.flush()
    first.stop()
    assert [r[2] for r in outbox(db_url)] == [True]  # parked for 5 minutes
    with psycopg.connect(db_url) as conn:
        (shown,) = troubled(conn)["rows"]  # the overview's "Notifications in trouble"
        assert shown["status"] == "retrying" and "(attempt 1; next attempt " in shown["error_message"]
        add_pending(conn, [notification(alert, bundle, "r", kind="resolved")])  # decided while the notifier was away
        told = {(a, rule, channel) for a, rule, channel, _ in load_told(conn, TELLS)}
    assert told == {(alert.id, "r", "hook")}  # a parked notification counts as told: it will be delivered

    sinks.http.normal["/down"] = (200, "ok")
    clock = FakeClock(5000.0)
    second = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=clock)  # the restart
    second.start()
    try:
        second.flush()
        assert sinks.http.accepted("/down") == []  # the trigger is not due; its resolve waits behind it
        clock.t += 301
        second.flush()
    finally:
        second.stop()
    assert [r.json()["kind"] for r in sinks.http.accepted("/down")] == ["firing", "resolved"]
    assert statuses(db_url) == ["retrying", "sent", "sent"] and outbox_count(db_url) == 0


def test_a_probe_refused_for_good_fails_at_once_and_the_channel_is_up(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [hook(sinks, retries=0)], [{"name": "r", "notify": {"channels": ["hook"]}}])
    alerts = [make_alert(0), make_alert(1)]
    store_alerts(db_url, alerts)
    sinks.http.normal["/down"] = (503, "down")
    clock = FakeClock()
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, clock=clock)
    notifier.start()
    try:
        notifier.submit([notification(alerts[0], bundle, "r")])
        notifier.flush()
        notifier.submit([notification(alerts[1], bundle, "r")])
        notifier.flush()
        sinks.http.normal["/down"] = (200, "ok")
        sinks.http.script("/down", "400")  # the receiver is back, and refuses the probe's request
        clock.t += 30
        notifier.flush()  # the probe fails for good (not retried), the receiver answered: the channel is up
        notifier.flush()
    finally:
        notifier.stop()
    assert [(r["alert_id"], r["status"]) for r in log_rows(db_url)] == [
        (alerts[0].id, "retrying"), (alerts[0].id, "failed"), (alerts[1].id, "sent")]
    assert notifier.status()["channels_down"] == {} and outbox_count(db_url) == 0
