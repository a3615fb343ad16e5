"""The storm guard: more than N messages in M seconds on one channel switch it to one
digest per group, which says so; nothing is dropped; the state is visible."""
from __future__ import annotations

from notify_helpers import FAST, FakeClock, connector, load_tree, log_rows, make_alert, notification, outbox_count, store_alerts

from opsconductor.engine.notify.notifier import Notifier


def test_a_storm_becomes_one_digest_per_group_and_says_so(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/storm",
                                   "storm_guard": {"messages": 3, "within": "1m"}}],
                       [{"name": "r", "notify": {"channels": ["hook"]}}])
    alerts = [make_alert(i) for i in range(10)]
    store_alerts(db_url, alerts)
    clock = FakeClock()
    notifier = Notifier(connector(db_url), lambda: bundle, clock=clock, policy=FAST,
                        dashboard_url="https://opsc.example.net")
    notifier.start()
    notifier.submit([notification(a, bundle, "r") for a in alerts])
    notifier.flush()
    assert len(sinks.http.seen("/storm")) == 3  # the first three, one each; the rest wait for the digest
    state = notifier.status()["storm_guard"]["hook"]
    assert state["storm"] and state["held_messages"] == 7 and notifier.status()["storms_started"] == 1
    assert outbox_count(db_url) == 7  # held, not dropped: still pending

    clock.t += 60
    notifier.flush()
    notifier.stop()
    *singles, digest = [r.json() for r in sinks.http.seen("/storm")]
    assert [len(s["alerts"]) for s in singles] == [1, 1, 1] and "storm" not in singles[0]
    assert digest["title"].startswith("[STORM GUARD] 7 alerts, rule r")
    assert digest["body"].startswith("Storm guard: more than 3 messages within 60s on channel hook")
    assert digest["storm"]["alerts"] == 7 and digest["storm"]["link"] == "https://opsc.example.net/alerts?status=active"
    assert {a["id"] for s in (*singles, digest) for a in s["alerts"]} == {a.id for a in alerts}
    assert sorted(r["status"] for r in log_rows(db_url)) == ["sent"] * 10 and outbox_count(db_url) == 0
    assert notifier.status()["storm_guard"]["hook"]["storm"] is False  # the rate dropped: back to normal
