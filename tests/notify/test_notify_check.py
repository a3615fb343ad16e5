"""`opsc check channel`: one notification marked as a test, through the channel's real driver
and delivery, to a local receiver; the receiver's answer (or refusal) is what is shown."""
from __future__ import annotations

import asyncio
import json

from notify_helpers import load_tree

from opsconductor.engine.check import TEST_TITLE, check_channel


def test_a_webhook_channel_gets_one_marked_test_notification(sinks, tmp_path) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/hook",
                                   "headers": {"Authorization": "${env:HOOK_TOKEN}"}}], [],
                       {"HOOK_TOKEN": "Bearer hook-secret-77"})
    sinks.http.normal["/hook"] = (202, "queued")
    report = asyncio.run(check_channel(bundle, "hook"))
    assert report.ok, report.text()
    (seen,) = sinks.http.seen("/hook")
    body = json.loads(seen.body)
    assert body["alerts"][0]["title"] == TEST_TITLE and body["kind"] == "firing"
    assert "HTTP 202" in report.text() and "hook-secret-77" not in report.text()


def test_a_refusing_receiver_fails_the_check_with_its_answer(sinks, tmp_path) -> None:
    bundle = load_tree(tmp_path, [{"name": "hook", "type": "webhook", "url": f"{sinks.http.url}/refuse",
                                   "retries": 0}], [])
    sinks.http.normal["/refuse"] = (403, "forbidden: bad token")
    report = asyncio.run(check_channel(bundle, "hook"))
    assert not report.ok
    assert "failed to" in report.text() and "403" in report.text()


def test_an_unknown_channel_names_the_known_ones(tmp_path) -> None:
    bundle = load_tree(tmp_path, [{"name": "l", "type": "log"}], [])
    report = asyncio.run(check_channel(bundle, "nope"))
    assert not report.ok and "known: l" in report.text()
