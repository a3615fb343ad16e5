"""Grouping on a simulated clock: one message for a site's fifty alerts, later additions after
group_interval, resolved notifications grouped the same way, ungrouped rules immediate."""
from __future__ import annotations

import psycopg
import pytest
from notify_helpers import FAST, FakeClock, connector, load_tree, log_rows, make_alert, notification, store_alerts

from opsconductor.engine.model import Status, evolve
from opsconductor.engine.notify.grouping import Grouper
from opsconductor.engine.notify.message import alert_view
from opsconductor.engine.notify.notifier import Notifier

DEVICES = [{"name": f"s1-dev{i}", "ip": f"10.20.0.{i + 1}", "site": "site1"} for i in range(60)] + \
          [{"name": "s2-dev0", "ip": "10.30.0.1", "site": "site2"}]


@pytest.fixture
def grouped(sinks, tmp_path, db_url):
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/grouped"}],
                       [{"name": "site-outage", "notify": {"channels": ["hook"], "group_by": ["site"],
                                                           "group_wait": "30s", "group_interval": "5m"}}],
                       devices=DEVICES)
    clock = FakeClock(1000.0)
    notifier = Notifier(connector(db_url), lambda: bundle, clock=clock, policy=FAST, tick=0.05)
    notifier.start()
    yield bundle, clock, notifier
    notifier.stop()


def messages(sinks):
    return [r.json() for r in sinks.http.seen("/grouped")]


def test_fifty_alerts_of_one_site_send_one_message(grouped, sinks, db_url) -> None:
    bundle, clock, notifier = grouped
    alerts = [make_alert(i, device_ip=f"10.20.0.{i + 1}", device_name=f"s1-dev{i}") for i in range(50)]
    store_alerts(db_url, alerts)
    notifier.submit([notification(a, bundle, "site-outage") for a in alerts])
    notifier.flush()
    clock.t += 29
    notifier.flush()
    assert messages(sinks) == [] and notifier.pending() == 50
    clock.t += 1
    notifier.flush()
    (msg,) = messages(sinks)
    assert len(msg["alerts"]) == 50 and msg["group_labels"] == {"site": "site1"}
    assert msg["title"] == "[CRITICAL] 50 alerts - site1"
    assert msg["body"].startswith("50 alerts for site1 (rule site-outage):")
    assert sorted(a["id"] for a in msg["alerts"]) == sorted(a.id for a in alerts)
    rows = log_rows(db_url)
    assert len(rows) == 50 and {r["status"] for r in rows} == {"sent"}
    assert sum(1 for r in rows if "logged_with_alert" not in str(r["payload"]["request"])) == 1
    assert {r["payload"]["group"]["size"] for r in rows} == {50}

    # a late alert of the same site waits group_interval after the first message
    late = make_alert(50, device_ip="10.20.0.51", device_name="s1-dev50")
    store_alerts(db_url, [late])
    clock.t += 10
    notifier.submit([notification(late, bundle, "site-outage")])
    notifier.flush()
    clock.t += 250
    notifier.flush()
    assert len(messages(sinks)) == 1
    clock.t += 40  # 300 s after the first message
    notifier.flush()
    assert len(messages(sinks)) == 2 and [a["id"] for a in messages(sinks)[1]["alerts"]] == [late.id]

    # resolved notifications are grouped the same way
    clock.t += 1000
    notifier.submit([notification(evolve(a, status=Status.RESOLVED), bundle, "site-outage", "resolved")
                     for a in alerts])
    notifier.flush()
    assert len(messages(sinks)) == 2
    clock.t += 30
    notifier.flush()
    resolved = messages(sinks)[2]
    assert resolved["kind"] == "resolved" and len(resolved["alerts"]) == 50
    assert resolved["title"] == "[RESOLVED] 50 alerts - site1"
    assert notifier.pending() == 0 and notifier.sent == 101


def test_sites_are_separate_groups(grouped, sinks, db_url) -> None:
    bundle, clock, notifier = grouped
    a, b = make_alert(0, device_ip="10.20.0.1"), make_alert(1, device_ip="10.30.0.1")
    store_alerts(db_url, [a, b])
    notifier.submit([notification(a, bundle, "site-outage"), notification(b, bundle, "site-outage")])
    notifier.flush()
    clock.t += 30
    notifier.flush()
    assert sorted(m["group_labels"]["site"] for m in messages(sinks)) == ["site1", "site2"]


def test_stop_sends_what_groups_hold(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/grouped"}],
                       [{"name": "r", "notify": {"channels": ["hook"], "group_by": ["device_ip"], "group_wait": "1h"}}])
    alert = make_alert(0)
    store_alerts(db_url, [alert])
    notifier = Notifier(connector(db_url), lambda: bundle, clock=FakeClock(), policy=FAST)
    notifier.start()
    notifier.submit([notification(alert, bundle, "r")])
    notifier.stop()
    assert len(messages(sinks)) == 1 and [r["status"] for r in log_rows(db_url)] == ["sent"]


def _view(n):
    return alert_view(n.alert, None, None)


def test_ungrouped_rule_is_immediate_one_message_per_alert(tmp_path) -> None:
    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}], [{"name": "r", "notify": {"channels": ["l"]}}])
    g = Grouper()
    ns = [notification(make_alert(i), bundle, "r") for i in range(3)]
    out = [g.add(n, _view(n), {}, 0.0) for n in ns]
    assert [len(m.notifications) for m in out] == [1, 1, 1] and g.pending() == 0


def test_group_wait_zero_sends_first_batch_at_once_then_waits_interval(tmp_path) -> None:
    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}],
                       [{"name": "r", "notify": {"channels": ["l"], "group_by": ["category"], "group_interval": "1m"}}])
    g = Grouper()
    first = [notification(make_alert(i), bundle, "r") for i in range(3)]
    for n in first:
        assert g.add(n, _view(n), {"category": "power"}, 0.0) is None
    (msg,) = g.due(0.0)
    assert len(msg.notifications) == 3
    later = notification(make_alert(9), bundle, "r")
    resolved = notification(evolve(first[0].alert, status=Status.RESOLVED), bundle, "r", "resolved")
    g.add(later, _view(later), {"category": "power"}, 10.0)
    g.add(resolved, _view(resolved), {"category": "power"}, 11.0)
    assert g.due(59.0) == [] and g.next_due() == 60.0
    firing, res = g.due(60.0)
    assert (firing.kind, len(firing.notifications), res.kind, len(res.notifications)) == ("firing", 1, "resolved", 1)
    g.due(200.0)
    assert g.pending() == 0 and g._groups == {}  # idle for an interval: forgotten


def test_a_notification_replaced_in_its_group_is_settled_not_left_in_flight(grouped, sinks, db_url) -> None:
    """A link that went down, up and down again inside group_wait: two firing notifications of
    one fingerprint in one group. The newer is sent; the older is logged `skipped` (superseded)
    and leaves the outbox, instead of holding a place in flight until the next restart (and
    being sent, stale, after it)."""
    bundle, clock, notifier = grouped
    first = make_alert(0, device_ip="10.20.0.1", device_name="s1-dev0", status=Status.RESOLVED)
    again = evolve(make_alert(0, device_ip="10.20.0.1", device_name="s1-dev0"), source_alert_id="again")
    other = make_alert(1, device_ip="10.20.0.2", device_name="s1-dev1")
    assert first.fingerprint == again.fingerprint and first.id != again.id
    store_alerts(db_url, [first, again, other])
    notifier.submit([notification(first, bundle, "site-outage"), notification(other, bundle, "site-outage")])
    notifier.flush()
    notifier.submit([notification(again, bundle, "site-outage")])
    notifier.flush()
    assert notifier.pending() == 2  # the group holds two; the replaced one is no longer in flight
    clock.t += 30
    notifier.flush()
    (msg,) = messages(sinks)
    assert sorted(a["id"] for a in msg["alerts"]) == sorted([again.id, other.id])
    assert notifier.pending() == 0
    rows = {r["alert_id"]: r for r in log_rows(db_url)}
    assert rows[first.id]["status"] == "skipped" and "superseded" in rows[first.id]["error_message"]
    assert {rows[again.id]["status"], rows[other.id]["status"]} == {"sent"}
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM notification_outbox").fetchone()[0] == 0


def test_news_of_another_kind_for_the_same_alert_in_one_wait_is_not_superseded(grouped, sinks, db_url) -> None:
    """The neighbour of the superseded case: a firing and a resolved of one alert inside one
    group wait are different news; both go out (one message per kind), none is skipped."""
    bundle, clock, notifier = grouped
    alert = make_alert(0, device_ip="10.20.0.1", device_name="s1-dev0", status=Status.RESOLVED)
    store_alerts(db_url, [alert])
    notifier.submit([notification(alert, bundle, "site-outage")])
    notifier.flush()
    notifier.submit([notification(alert, bundle, "site-outage", kind="resolved")])
    notifier.flush()
    clock.t += 30
    notifier.flush()
    assert sorted(m["kind"] for m in messages(sinks)) == ["firing", "resolved"]
    assert {r["status"] for r in log_rows(db_url)} == {"sent"} and notifier.pending() == 0
