"""Hot reload: one coordinator, atomic swap, refusal with located errors, nothing lost or doubled."""
from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent / "pipeline"))
from pipeline_helpers import COLD_START, trap  # noqa: E402
from waiting import aeventually  # noqa: E402

from opsconductor.engine.connectors.base import Backpressure
from opsconductor.engine.errors import OpscError
from opsconductor.engine.connectors.supervisor import ConnectorSupervisor
from opsconductor.engine.pipeline.state import ActiveAlerts
from opsconductor.engine.worker import PipelineWorker
from opsconductor.engine.reload import LiveConfig
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.store.config_versions import get_current, get_last_attempt
from opsconductor.engine.watch import watch_config

ROOT = Path(__file__).resolve().parents[1]
RULE = """
channels:
  - {{name: noc, type: log}}
rules:
  - name: {name}
    notify: {{channels: [noc]}}
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for folder in ("connectors.d", "oidmaps", "dependencies.d"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULE.format(name="first-rule"))
    return tmp_path


@pytest.fixture
def running(tree: Path, db_url: str):
    connect = lambda: psycopg.connect(db_url)  # noqa: E731
    live = LiveConfig(tree, RulesHost(), ActiveAlerts(), connect)
    notifications: list = []
    worker = PipelineWorker(live.held, db_url, notifications.extend, max_batch=50)
    assert live.request("start").outcome == "applied"
    worker.start()
    yield live, worker, notifications, connect
    worker.stop()
    live.pipeline.close()


def test_edit_applies_to_the_next_event(running, tree) -> None:
    live, worker, notifications, _ = running
    worker.submit([trap(COLD_START, "10.9.0.1")])
    assert worker.drain()
    (tree / "rules" / "r.yaml").write_text(RULE.format(name="second-rule"))
    outcome = live.request("test")
    assert outcome.outcome == "applied" and outcome.version_id == 2
    worker.submit([trap(COLD_START, "10.9.0.2")])
    assert worker.drain()
    assert [n.rule for n in notifications] == ["first-rule", "second-rule"]
    assert [n.alert.config_version_id for n in notifications] == [1, 2]


def test_invalid_file_is_refused_and_the_old_rules_keep_serving(running, tree) -> None:
    live, worker, notifications, connect = running
    (tree / "rules" / "r.yaml").write_text(RULE.format(name="Bad Name"))
    outcome = live.request("test")
    assert outcome.outcome == "refused"
    assert [(p.file, p.line, p.path) for p in outcome.errors] == [("rules/r.yaml", 5, "$.rules[0].name")]
    worker.submit([trap(COLD_START, "10.9.0.3")])
    assert worker.drain()
    assert [n.rule for n in notifications] == ["first-rule"]
    with connect() as conn:
        assert get_current(conn).id == 1
        last = get_last_attempt(conn)
        assert last.outcome.value == "refused" and last.errors[0]["file"] == "rules/r.yaml"


def test_failing_rule_test_refuses_the_version(running, tree) -> None:
    live, *_ = running
    (tree / "rules" / "tests").mkdir()
    (tree / "rules" / "tests" / "t.yaml").write_text(
        "tests:\n  - name: wants a page\n    events:\n      - alert: {alert_type: x}\n"
        "    expect:\n      notifications: [{channel: noc, rule: nope-rule}]\n")
    outcome = live.request("test")
    assert outcome.outcome == "refused"
    assert "unknown rule 'nope-rule'" in outcome.errors[0].message
    (tree / "rules" / "tests" / "t.yaml").write_text(
        "tests:\n  - name: wants a page\n    events:\n      - alert: {alert_type: x}\n"
        "    expect:\n      notifications: [{channel: noc, rule: first-rule, kind: resolved}]\n")
    outcome = live.request("test")
    assert outcome.outcome == "refused" and outcome.errors[0].message.startswith("rule test 'wants a page' failed")


def test_burst_during_50_reloads_loses_and_duplicates_nothing(running, tree, db_url) -> None:
    live, worker, _, connect = running
    stop = threading.Event()

    def reloader() -> None:
        for i in range(50):
            (tree / "rules" / "r.yaml").write_text(RULE.format(name=f"rule-{i}"))
            live.request(f"burst-{i}")
        stop.set()

    thread = threading.Thread(target=reloader)
    thread.start()
    sent = 0
    while not stop.is_set() and sent < 20_000:
        sent_batch = [trap(COLD_START, f"10.60.{(sent + i) // 250 % 250}.{(sent + i) % 250 + 1}") for i in range(20)]
        try:
            worker.submit(sent_batch)
            sent += len(sent_batch)
        except Backpressure:  # the queue is full: it empties before more is sent
            assert worker.drain(60)
    thread.join()
    assert worker.drain(60)
    assert live.reloads >= 50 and sent > 0
    with connect() as conn:
        raw = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM raw_events").fetchone()
        alerts = conn.execute("SELECT count(*), count(DISTINCT fingerprint) FROM alerts").fetchone()
        versions = conn.execute("SELECT count(*) FROM config_versions WHERE outcome = 'applied'").fetchone()[0]
    assert raw == (sent, sent)  # every event stored once
    distinct_devices = min(sent, 250 * 250)
    assert alerts[1] == alerts[0] and alerts[0] <= distinct_devices
    assert versions == 51
    assert len(live.host.generations()) == 1  # old generations are freed


class _HeldClock:
    """The worker's clock. Once armed, the next batch stops in it (a batch in flight) until released."""

    def __init__(self) -> None:
        self.armed, self.entered, self.go = threading.Event(), threading.Event(), threading.Event()

    def __call__(self) -> datetime:
        if self.armed.is_set() and not self.go.is_set():
            self.entered.set()
            self.go.wait(60)
        return datetime.now(timezone.utc)


def test_a_batch_in_flight_keeps_its_generation_until_it_ends(tree, db_url) -> None:
    live = LiveConfig(tree, RulesHost(), ActiveAlerts(), lambda: psycopg.connect(db_url))
    clock = _HeldClock()
    worker = PipelineWorker(live.held, db_url, lambda n: None, tick_every=0, clock=clock)  # a tick each batch
    assert live.request("start").outcome == "applied"
    old = live.pipeline
    worker.start()
    try:
        clock.armed.set()
        assert clock.entered.wait(30), "the stage thread never started a batch"
        (tree / "rules" / "r.yaml").write_text(RULE.format(name="second-rule"))
        assert live.request("edit").outcome == "applied"  # the reload does not wait for the batch
        assert live.pipeline is not old
        assert old.holders.count == 1 and not old.holders.freed.is_set()
        assert set(live.host.generations()) == {old.rules.generation, live.pipeline.rules.generation}
        clock.go.set()  # the batch ends: its generation goes with it
        assert old.holders.freed.wait(30), "the retired generation was not freed after its batch"
        assert live.host.generations() == (live.pipeline.rules.generation,)
        assert not live.pipeline.holders.freed.is_set()
    finally:
        clock.go.set()
        worker.stop()
        live.pipeline.close()


def test_a_held_generation_still_matches_after_a_reload_and_is_freed_on_release(tree, db_url) -> None:
    live = LiveConfig(tree, RulesHost(), ActiveAlerts(), lambda: psycopg.connect(db_url))
    assert live.request("start").outcome == "applied"
    try:
        with live.held() as old:
            (tree / "rules" / "r.yaml").write_text(RULE.format(name="second-rule"))
            assert live.request("edit").outcome == "applied"
            assert [n.rule for n in old.process(trap(COLD_START, "10.9.1.1")).notifications] == ["first-rule"]
            with pytest.raises(OpscError, match="retired"):
                old.holders.acquire()  # no new batch starts on a retired generation
            with live.held() as current:
                assert current is live.pipeline is not old
            assert not old.holders.freed.is_set()
        assert old.holders.freed.is_set() and old.rules.generation not in live.host.generations()
        assert live.pipeline.holders.count == 0 and not live.pipeline.holders.freed.is_set()
    finally:
        live.pipeline.close()
    assert live.host.generations() == ()


def test_a_rules_edit_keeps_the_indexes_of_what_it_did_not_touch(tree, db_url) -> None:
    live = LiveConfig(tree, RulesHost(), ActiveAlerts(), lambda: psycopg.connect(db_url))
    assert live.request("start").outcome == "applied"
    try:
        before = live.pipeline.view
        index, topology, inventory = before.oid_index, before.topology, before.inventory
        (tree / "rules" / "r.yaml").write_text(RULE.format(name="second-rule"))
        assert live.request("rules").outcome == "applied"
        after = live.pipeline.view
        assert after.oid_index is index and after.topology is topology and after.inventory is inventory
        oidmap = sorted((tree / "oidmaps").glob("*.yaml"))[0]
        oidmap.write_text(oidmap.read_text() + "\n# edited\n")
        assert live.request("oidmaps").outcome == "applied"
        assert live.pipeline.view.oid_index is not index and live.pipeline.view.topology is topology
    finally:
        live.pipeline.close()


def test_triggers_during_a_reload_coalesce(running, tree) -> None:
    live, *_ = running
    (tree / "rules" / "r.yaml").write_text(RULE.format(name="coalesced"))
    before = live.reloads
    threads = [threading.Thread(target=live.request, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= live.reloads - before <= 8
    assert live.last.outcome in ("applied", "unchanged")
    assert live.pipeline.rules.compiled.rules[0].name == "coalesced"


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unchanged_connector_keeps_running(running, tree) -> None:
    live, worker, _, _ = running

    async def scenario() -> dict:
        supervisor = ConnectorSupervisor(worker.submit)
        (tree / "connectors.d" / "snmp-traps.yaml").write_text(
            (tree / "connectors.d" / "snmp-traps.yaml").read_text().replace("0.0.0.0:1162", f"127.0.0.1:{free_udp_port()}"))
        assert live.request("connector").outcome == "applied"
        await supervisor.reconcile(live.bundle)
        receiver = supervisor.running["snmp-traps"]
        (tree / "rules" / "r.yaml").write_text(RULE.format(name="unrelated-change"))
        assert live.request("rules").outcome == "applied"
        kept = await supervisor.reconcile(live.bundle)
        same = supervisor.running["snmp-traps"] is receiver
        (tree / "connectors.d" / "snmp-traps.yaml").write_text(
            (tree / "connectors.d" / "snmp-traps.yaml").read_text().replace("unmapped: alert", "unmapped: raw"))
        assert live.request("connector changed").outcome == "applied"
        changed = await supervisor.reconcile(live.bundle)
        await supervisor.stop_all()
        return {"kept": kept, "same": same, "changed": changed}

    result = asyncio.run(scenario())
    assert result["kept"]["kept"] == ["snmp-traps"] and result["same"], result
    assert result["changed"]["restarted"] == ["snmp-traps"], result


class _Recording:
    """The real coordinator behind the watcher, remembering each reload's outcome and rule count."""

    def __init__(self, live: LiveConfig) -> None:
        self.live = live
        self.outcomes: list[tuple[str, int]] = []

    async def arequest(self, trigger: str):
        outcome = await self.live.arequest(trigger)
        self.outcomes.append((outcome.outcome, len(self.live.bundle.rules)))
        return outcome


async def _watching(path: Path, answered: Callable[[], bool], content: str | None = None) -> None:
    """Save `path` until the watcher answers: it is then watching (watchfiles says nothing when
    it is ready). A save it missed while starting is saved again."""
    for _ in range(30):
        path.write_text(path.read_text() if content is None else content)
        try:
            await aeventually(answered, "the watcher answered a save", timeout=2)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the watcher never answered a save of {path}")


def test_file_watcher_debounces_a_burst_into_one_reload(running, tree) -> None:
    live, *_ = running
    seen = _Recording(live)

    async def scenario() -> list[int]:
        stop = asyncio.Event()
        task = asyncio.create_task(watch_config(tree, seen, stop))
        await _watching(tree / "rules" / "r.yaml", lambda: bool(seen.outcomes))  # unchanged: no version
        before = len(seen.outcomes)
        for i in range(5):  # like a git checkout touching several files
            (tree / "rules" / f"extra{i}.yaml").write_text(
                f"rules:\n  - name: extra-{i}\n    match: {{alert_type: nope}}\n    notify: {{channels: [noc]}}\n")
        await aeventually(lambda: len(live.bundle.rules) == 6, "the five new files applied")
        # A later edit: a reload the burst caused after the first one would come before its own.
        (tree / "rules" / "r.yaml").write_text(RULE.format(name="after-the-burst"))
        await aeventually(lambda: any(r.name == "after-the-burst" for r in live.bundle.rules), "the later edit applied")
        stop.set()
        await asyncio.wait_for(task, 30)
        return [rules for outcome, rules in seen.outcomes[before:] if outcome == "applied"]

    assert asyncio.run(scenario()) == [6, 6]  # the burst in one version, then the later edit


class _FlakyLive:
    """The real coordinator behind a trigger that fails once (as a reload crashing on an
    unforeseen input would have): the watcher must log it and keep watching."""

    def __init__(self, live: LiveConfig) -> None:
        self.live = live
        self.calls = 0

    async def arequest(self, trigger: str):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return await self.live.arequest(trigger)


def test_file_watcher_survives_a_failing_reload_and_applies_the_next_edit(running, tree, caplog) -> None:
    live, *_ = running
    flaky = _FlakyLive(live)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watch_config(tree, flaky, stop))
        await _watching(tree / "rules" / "r.yaml", lambda: flaky.calls >= 1, RULE.format(name="lost-edit"))
        (tree / "rules" / "r.yaml").write_text(RULE.format(name="later-edit"))
        await aeventually(lambda: live.bundle.rules[0].name == "later-edit", "the edit after the failure applied")
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert flaky.calls >= 2 and live.bundle.rules[0].name == "later-edit"
    assert "reload after file change failed: RuntimeError: boom" in caplog.text


def test_watcher_of_a_missing_tree_keeps_trying_until_stopped(tmp_path, caplog) -> None:
    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watch_config(tmp_path / "absent", None, stop, retry_seconds=0.05))
        await aeventually(lambda: caplog.text.count("watching again") >= 2, "the watcher tried twice")
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert caplog.text.count("watching again") >= 2


def test_a_reload_that_crashes_is_recorded_as_refused(tree, db_url) -> None:
    """The database refusing the new version's row mid-reload: answered and recorded as a
    refusal (once the database answers again), the running version untouched."""
    blips = {"left": 0}

    def connect():
        if blips["left"] > 0:
            blips["left"] -= 1
            raise psycopg.OperationalError("connection refused (a blip)")
        return psycopg.connect(db_url)

    live = LiveConfig(tree, RulesHost(), ActiveAlerts(), connect)
    assert live.request("start").outcome == "applied"
    try:
        (tree / "rules" / "r.yaml").write_text(RULE.format(name="during-a-blip"))
        blips["left"] = 1  # record_applied fails; record_refused finds the database back
        outcome = live.request("test")
        assert outcome.outcome == "refused"
        assert outcome.errors[0].message.startswith("the reload failed: OperationalError: connection refused")
        assert live.last is outcome and live.bundle.rules[0].name == "first-rule"
        with psycopg.connect(db_url) as conn:
            last = get_last_attempt(conn)
            assert last.outcome.value == "refused" and "OperationalError" in last.errors[0]["message"]
            assert get_current(conn).id == 1
        assert live.request("again").outcome == "applied"
        assert live.bundle.rules[0].name == "during-a-blip"
    finally:
        live.pipeline.close()


RULES = """\
channels:
  - {name: noc, type: log}
  - {name: page, type: log}
rules:
  - name: site1-cold
    match: {alert_type: cold_start, site: site1}
    notify: {channels: [page]}
    continue: true
  - name: one-device
    match: {alert_type: cold_start, device_ip: 10.9.0.1}
    notify: {channels: [noc]}
  - name: links
    match: {alert_type: link_down}
    notify: {channels: [noc]}
"""


def _told(worker, notifications, *sources: str) -> set[tuple[str, str, str]]:
    """(rule, channel, device) of each notification the cold starts from `sources` gave."""
    notifications.clear()
    worker.submit([trap(COLD_START, ip) for ip in sources])
    assert worker.drain()
    return {(n.rule, n.channel, n.alert.device_ip) for n in notifications}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


def test_a_rule_edit_takes_effect_and_the_rules_it_did_not_touch_are_kept(running, tree) -> None:
    live, worker, notifications, connect = running
    rules = tree / "rules" / "r.yaml"
    rules.write_text(RULES)
    assert live.request("rules").outcome == "applied"
    before = live.bundle
    assert before is not None
    _edit(rules, "device_ip: 10.9.0.1}", "device_ip: 10.9.0.7}")
    assert live.request("edit").outcome == "applied"
    after = live.bundle
    assert after is not None
    # the other rules are the running version's own objects: built, compiled and checked once
    assert after.rules[0] is before.rules[0] and after.rules[2] is before.rules[2]
    assert after.rules[1] is not before.rules[1]
    assert _told(worker, notifications, "10.9.0.1", "10.9.0.7", "10.20.0.2") == {
        ("one-device", "noc", "10.9.0.7"), ("site1-cold", "page", "10.20.0.2")}
    with connect() as conn:  # the config tables: the edited rule's row changed, the others are as they were
        assert conn.execute("SELECT name, conditions->'device_ip', config_version_id FROM notification_rules"
                            " ORDER BY priority").fetchall() == [
            ("site1-cold", None, 2), ("one-device", {"eq": "10.9.0.7"}, 3), ("links", None, 2)]


def test_a_kept_rule_sees_what_changed_around_it(running, tree) -> None:
    """A device's site, an OID map and a channel are not part of a rule: a rule kept as it was
    still sees their new version, and a reference to a channel gone refuses the tree, located."""
    live, worker, notifications, _ = running
    rules, site = tree / "rules" / "r.yaml", tree / "dependencies.d" / "site1.yaml"
    rules.write_text(RULES)
    assert live.request("rules").outcome == "applied"
    kept = live.bundle.rules[0] if live.bundle else None
    _edit(site, "ip: 10.20.0.5, site: site1,", "ip: 10.20.0.5, site: site9,")
    assert live.request("site").outcome == "applied"
    assert live.bundle is not None and live.bundle.rules[0] is kept
    assert _told(worker, notifications, "10.20.0.5", "10.20.0.2") == {("site1-cold", "page", "10.20.0.2")}
    _edit(tree / "oidmaps" / "standard.yaml", "alert_type: cold_start\n", "alert_type: warm_start\n")
    assert live.request("oidmap").outcome == "applied"
    assert _told(worker, notifications, "10.20.0.6", "10.9.0.1") == set()  # the rules match cold_start
    # a line added to the first rule moves the two after it; then the channel they notify goes
    _edit(rules, "  - name: site1-cold\n", "  - name: site1-cold\n    description: the cameras' site\n")
    assert live.request("moved").outcome == "applied"
    names = [i for i, text in enumerate(rules.read_text().splitlines(), 1) if text.startswith("  - name: ")]
    assert live.bundle is not None and [r.source.line for r in live.bundle.rules] == names  # where decisions point
    _edit(rules, "{name: noc, type: log}", "{name: ops, type: log}")
    outcome = live.request("channel")
    assert outcome.outcome == "refused"
    lines = [i for i, text in enumerate(rules.read_text().splitlines(), 1) if "channels: [noc]" in text]
    assert [(p.file, p.line, p.path) for p in outcome.errors] == [
        ("rules/r.yaml", lines[0], "$.rules[1].notify.channels[0]"),
        ("rules/r.yaml", lines[1], "$.rules[2].notify.channels[0]")]
    assert live.bundle is not None and live.bundle.rules[0].description == "the cameras' site"  # still running
