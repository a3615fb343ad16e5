"""The notifier in its own process, as `opsc serve` runs it: woken after commits, it
delivers from the outbox; killed, it is replaced and nothing pending is lost."""
from __future__ import annotations

import os
import signal

import psycopg
from notify_helpers import eventually, load_tree, log_rows, make_alert, notification, outbox_count, store_alerts

from opsconductor.engine.notify.process import NotifierProcess
from opsconductor.engine.store.outbox import add_pending


def test_delivers_from_the_outbox_and_survives_a_kill_9(sinks, tmp_path, db_url) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/proc", "timeout": "30s"}],
                       [{"name": "r", "notify": {"channels": ["hook"]}}])
    alerts = [make_alert(i) for i in range(4)]
    store_alerts(db_url, alerts)
    failed = []
    notifier = NotifierProcess(db_url, on_failed=failed.extend)
    notifier.start(bundle.root, bundle.content_hash)
    try:
        with psycopg.connect(db_url) as conn:
            add_pending(conn, [notification(alerts[0], bundle, "r")])
        notifier.wake()
        eventually(lambda: notifier.status()["sent"] == 1 and outbox_count(db_url) == 0, "the first is delivered")
        sinks.http.script("/proc", "hold")  # the next request hangs; the process is killed meanwhile
        with psycopg.connect(db_url) as conn:
            add_pending(conn, [notification(a, bundle, "r") for a in alerts[1:]])
        notifier.wake()
        eventually(lambda: len(sinks.http.seen("/proc")) >= 2, "a second request is on its way")
        first = notifier.status()["pid"]
        os.kill(first, signal.SIGKILL)
        eventually(lambda: notifier.restarts == 1 and notifier.status()["pid"] != first, "a new notifier process")
        sinks.http.release()
        notifier.wake()
        eventually(lambda: outbox_count(db_url) == 0, "the replacement delivers what was pending")
    finally:
        notifier.stop()
    delivered = {r.json()["alerts"][0]["id"] for r in sinks.http.delivered("/proc")}
    assert delivered == {a.id for a in alerts}
    held = next(r for r in sinks.http.seen("/proc") if r.fault == "hold")  # sent before the kill, and again after
    again = [r for r in sinks.http.delivered("/proc") if r.json()["alerts"][0]["id"] == held.json()["alerts"][0]["id"]]
    assert held.headers["idempotency-key"] == again[0].headers["idempotency-key"] == again[0].json()["idempotency_key"]
    assert {r["alert_id"] for r in log_rows(db_url) if r["status"] == "sent"} == {a.id for a in alerts}
    assert failed == []
