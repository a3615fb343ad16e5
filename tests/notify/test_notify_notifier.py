"""The notifier as the pipeline sees it: submit never blocks, the queue is bounded, a slow
channel does not hold up the others, dry runs and unknown channels are logged."""
from __future__ import annotations


from notify_helpers import (FAST, connector, eventually, load_tree, log_rows, make_alert, notification, outbox_count,
                            store_alerts)

from opsconductor.engine.notify.notifier import Notifier


def test_slow_channel_does_not_block_the_others(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "slow", "type": "webhook", "url": f"{sinks.http.url}/slow", "timeout": "5s"},
                                  {"name": "fast", "type": "webhook", "url": f"{sinks.http.url}/fast"}],
                       [{"name": "r", "notify": {"channels": ["slow", "fast"]}}])
    sinks.http.script("/slow", "hold")  # the slow receiver answers only when released below
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST)
    notifier.start()
    notifier.submit([notification(alert, bundle, "r", channel="slow"), notification(alert, bundle, "r", channel="fast")])
    # Only now is the slow receiver released: submit has returned, and the fast channel
    # must have delivered meanwhile.
    eventually(lambda: sinks.http.seen("/fast"), "the fast channel delivered while the slow one is held")
    assert sinks.http.seen("/slow")
    sinks.http.release()
    notifier.flush()
    notifier.stop()
    assert sorted((r["channel"], r["status"]) for r in log_rows(db_url)) == [("fast", "sent"), ("slow", "sent")]


def test_in_flight_is_bounded_and_the_outbox_is_the_buffer(tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}], [{"name": "r", "notify": {"channels": ["l"]}}])
    alerts = [make_alert(i) for i in range(8)]
    store_alerts(db_url, alerts)
    notifier = Notifier(connector(db_url), lambda: bundle, max_in_flight=5, policy=FAST)
    notifier.submit([notification(a, bundle, "r") for a in alerts])  # not started: all 8 wait in the outbox
    assert (notifier.dropped, notifier.pending(), outbox_count(db_url)) == (0, 0, 8)
    notifier.start()
    notifier.flush()
    notifier.stop()
    assert notifier.sent == 8 and len(log_rows(db_url)) == 8 and outbox_count(db_url) == 0


def test_dry_run_skips_everything_but_log(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/dry"},
                                  {"name": "l", "type": "log"}],
                       [{"name": "r", "notify": {"channels": ["hook", "l"]}}])
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    notifier = Notifier(connector(db_url), lambda: bundle, dry_run=True)
    notifier.start()
    notifier.submit([notification(alert, bundle, "r", channel="hook"), notification(alert, bundle, "r", channel="l")])
    notifier.flush()
    notifier.stop()
    notifier.stop()  # idempotent
    rows = {r["channel"]: r for r in log_rows(db_url)}
    assert rows["hook"]["status"] == "skipped" and "dry run" in rows["hook"]["error_message"]
    assert rows["l"]["status"] == "sent" and sinks.http.seen("/dry") == []
    assert (notifier.skipped, notifier.sent) == (1, 1)


def test_channel_missing_from_the_running_config(tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}], [{"name": "r", "notify": {"channels": ["l"]}}])
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    notifier = Notifier(connector(db_url), lambda: bundle)
    notifier.start()
    notifier.submit([notification(alert, bundle, "r", channel="gone")])
    notifier.flush()
    notifier.stop()
    (row,) = log_rows(db_url)
    assert row["status"] == "failed" and "'gone' is not in the running config" in row["error_message"]


def test_reload_picks_up_the_new_channel_config(sinks, tmp_path, db_url) -> None:
    first = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/v1"}],
                      [{"name": "r", "notify": {"channels": ["hook"]}}])
    current = [first]
    alerts = [make_alert(0), make_alert(1)]
    store_alerts(db_url, alerts)
    notifier = Notifier(connector(db_url), lambda: current[0])
    notifier.start()
    notifier.submit([notification(alerts[0], first, "r")])
    notifier.flush()
    current[0] = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/v2"}],
                           [{"name": "r", "notify": {"channels": ["hook"]}}])
    notifier.submit([notification(alerts[1], current[0], "r")])
    notifier.flush()
    notifier.stop()
    assert len(sinks.http.seen("/v1")) == 1 and len(sinks.http.seen("/v2")) == 1
