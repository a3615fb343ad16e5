"""`opsc replay` and `opsc history export` on history the real pipeline wrote to real
PostgreSQL: the default tree against itself changes nothing, one change to the tree gives
exactly its differences, operators' resolves are honoured, a history file round-trips."""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from opsconductor.engine.connectors.snmp.trapwire import trap_payload
from opsconductor.engine.pipeline.state import ActiveAlerts
from opsconductor.engine.reload import LiveConfig
from opsconductor.engine.model import RawEvent
from opsconductor.engine.notify.notifier import Notifier
from opsconductor.engine.worker import PipelineWorker
from opsconductor.engine.replay.history_file import HistoryFileError, read_history, write_history
from opsconductor.engine.replay.report import render
from opsconductor.engine.replay.run import HistorySource, replay
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.pipeline.commands import OperatorCommand, Verb
from opsconductor.engine.store.history import stream_operator_actions, stream_raw_events

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
LINK_DOWN, LINK_UP, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
ALICE = ("u-alice", "Alice Operator")
# A fixed afternoon a while ago: replay is in simulated time, and the stored times are what it reads.
BASE = datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc)


def trap(n: int, oid: str, source: str, at: float, varbinds=()) -> RawEvent:
    return RawEvent(f"t{n}", "snmp-traps", "snmp_trap", BASE + timedelta(seconds=at), source,
                    trap_payload(oid, varbinds))


def monitor(n: int, host: str, state: str, at: float) -> RawEvent:
    fields = {"device_ip": host, "alert_type": "device_unreachable", "severity": "major", "category": "network",
              "title": "Device Unreachable"}
    if state == "ok":
        fields["clear"] = True
    return RawEvent(f"m{n}", "monitoring", "webhook", BASE + timedelta(seconds=at), None,
                    {"format": "generic", "fields": fields, "item": {"host": host, "state": state}})


def _write_history(db_url: str) -> None:
    """What a morning at site 1 leaves in the database, written by the real worker."""
    live = LiveConfig(ROOT, RulesHost(), ActiveAlerts(), lambda: psycopg.connect(db_url), run_rule_tests=False)
    assert live.request("test").outcome == "applied"  # recorded as the running version, with its text
    pipeline = live.pipeline
    notifier = Notifier(lambda: psycopg.connect(db_url), lambda: live.bundle, dry_run=True)
    worker = PipelineWorker(pipeline.held, db_url, notifier.submit, max_queue=100, tick_every=0.2)
    notifier.start()
    worker.start()
    try:
        worker.submit([trap(1, LINK_DOWN, "10.20.0.1", 0, [(f"{IF_INDEX}.3", 3)]),
                       monitor(2, "10.20.0.2", "down", 10),
                       trap(3, COLD_START, "10.20.1.11", 20),
                       trap(4, LINK_UP, "10.20.0.1", 120, [(f"{IF_INDEX}.3", 3)]),
                       monitor(5, "10.20.0.2", "ok", 300),
                       trap(6, COLD_START, "10.20.0.1", 400)])
        assert worker.drain()
        with psycopg.connect(db_url) as conn:
            (cold,) = conn.execute("SELECT id::text FROM alerts WHERE alert_type = 'cold_start'"
                                   " AND device_ip = '10.20.0.1'").fetchone()
        # The operator's resolve, as the API hands it to the engine.
        worker.command(OperatorCommand(cold, Verb.RESOLVE, *ALICE, "router rebooted on purpose")).result(timeout=60)
    finally:
        worker.stop()
        notifier.stop()
        pipeline.close()
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alert_history SET created_at = %s WHERE action = 'resolved' AND user_id = 'u-alice'",
                     (BASE + timedelta(seconds=500),))  # the operator acted at the scenario's time
        conn.commit()


@pytest.fixture(scope="module")
def history(module_db_url: str) -> HistorySource:
    """One history for the module (replays only read it)."""
    _write_history(module_db_url)
    return HistorySource(database_url=module_db_url, since=BASE - timedelta(minutes=1), until=BASE + timedelta(hours=1))


def _tree(tmp_path: Path, edit=None) -> Path:
    tree = tmp_path / "candidate"
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, tree / folder)
    if edit:
        edit(tree)
    return tree


def test_the_default_tree_against_itself_changes_nothing(history, tmp_path) -> None:
    result = replay(_tree(tmp_path), ROOT, history)
    assert result.diff.no_change, render(result.diff, "text")
    run = result.diff.candidate
    assert run["events"] == 6 and run["failed_events"] == 0 and run["operator_actions"] == 1
    assert run["counts"]["created"] == 4 and run["counts"]["suppressed"] == 1
    assert "No change" in render(result.diff, "text")


def test_removing_a_dependency_unsuppresses_the_camera(history, tmp_path) -> None:
    def no_camera_vlan(tree: Path) -> None:
        deps = tree / "dependencies.d" / "site1.yaml"
        text = deps.read_text()
        start = text.index("  - device: 10.20.1.0/24")
        end = text.index("  - device: [site1-switch")
        deps.write_text(text[:start] + text[end:])

    diff = replay(_tree(tmp_path, no_camera_vlan), ROOT, history).diff
    assert diff.moved["counts"]["suppressed"] == (1, 0)
    assert diff.moved["suppressed_under"] == {"device_unreachable on site1-switch: Device Unreachable - site1-switch": (1, 0)}
    (camera,) = [c for c in diff.changed if c.title.startswith("cold_start on site1-cam1")]
    # before: held under the switch, told only once the switch was back and it was still open
    assert "under" in camera.before and "unsuppressed" in camera.before
    assert "suppressed" not in camera.after and camera.after.splitlines()[1].endswith("firing by log-everything-else")


def test_a_silence_holds_what_it_matches(history, tmp_path) -> None:
    def silence_router(tree: Path) -> None:
        (tree / "rules" / "router-work.yaml").write_text(textwrap.dedent("""\
            silences:
              - name: router-work
                match: {device_ip: 10.20.0.1}
                starts_at: "2026-11-30T13:00:00Z"
                ends_at: "2026-11-30T18:00:00Z"
                owner: alice
                comment: router maintenance
            """))

    diff = replay(_tree(tmp_path, silence_router), ROOT, history).diff
    assert diff.moved["counts"]["silenced"][0] == 0 and diff.moved["counts"]["silenced"][1] >= 1
    assert diff.moved["by_rule"]["silence:silence:router-work"][1] >= 1


def test_the_operators_resolve_is_honoured(history, tmp_path) -> None:
    result = replay(_tree(tmp_path), ROOT, history)
    assert result.diff.candidate["counts"]["operator_resolved"] == 1
    without = HistorySource(database_url=history.database_url, since=history.since,
                            until=BASE + timedelta(seconds=450))  # before the operator acted
    assert replay(_tree(tmp_path / "2"), ROOT, without).diff.candidate["counts"].get("operator_resolved", 0) == 0


def test_a_history_file_round_trips_and_replays_the_same(history, tmp_path) -> None:
    with psycopg.connect(history.database_url) as a, psycopg.connect(history.database_url) as b:
        from opsconductor.engine.replay.history_file import merged

        items = list(merged(stream_raw_events(a, history.since, history.until),
                            stream_operator_actions(b, history.since, history.until)))
    path = tmp_path / "history.jsonl.gz"
    assert write_history(path, items, since=history.since, until=history.until) == 7
    assert list(read_history(path)) == items
    from_file = replay(_tree(tmp_path), ROOT, HistorySource(file=path)).diff
    assert from_file.no_change
    assert (from_file.candidate["events"], from_file.candidate["operator_actions"]) == (6, 1)
    assert from_file.candidate["counts"]["operator_resolved"] == 1


def test_a_bad_history_file_names_the_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(json.dumps({"format": "opsconductor-history", "version": 1}) + "\n")
        out.write(json.dumps({"t": "event", "at": "2026-11-30T14:00:00+00:00", "connector": "x"}) + "\n")
    with pytest.raises(HistoryFileError, match=r"bad\.jsonl\.gz:2: missing 'event_id'"):
        list(read_history(path))


def test_the_cli_exports_and_replays_with_github_output(history, tmp_path) -> None:
    path = tmp_path / "h.jsonl.gz"
    cli = [sys.executable, "-m", "opsconductor.engine.cli"]
    span = ["--from", history.since.isoformat(), "--until", history.until.isoformat()]
    out = subprocess.run([*cli, "history", "export", *span, "--database-url", history.database_url, "-o", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "wrote 7 events" in out.stdout, out.stderr

    def to_audit_log(tree: Path) -> None:
        rules = tree / "rules" / "notifications.yaml"
        rules.write_text(rules.read_text().replace("      channels: [noc-email]\n", "      channels: [audit-log]\n"))

    _tree(tmp_path, to_audit_log)
    out = subprocess.run([*cli, "replay", "--config", "candidate", "--baseline", str(ROOT), "--history", str(path),
                          "--format", "github", "--exit-code"], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # --exit-code: the candidate decides differently
    # exactly the noc-email notifications move to audit-log; nothing else changes
    got = out.stdout.replace(str(ROOT), "BASELINE")
    from opsconductor.engine.config.loader import load_bundle

    line = next(r.source.line for r in load_bundle(ROOT).rules if r.name == "email-major-network")
    assert got == (FIXTURES / "channel_change.github.md").read_text().replace("RULE_LINE", str(line))


def test_the_default_baseline_is_the_running_version(history, tmp_path) -> None:
    """No --baseline: the text of the version running in the database (stored at each reload)."""
    def to_audit_log(tree: Path) -> None:
        rules = tree / "rules" / "notifications.yaml"
        rules.write_text(rules.read_text().replace("      channels: [noc-email]\n", "      channels: [audit-log]\n"))

    tree = _tree(tmp_path, to_audit_log)
    out = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "replay", "--config", str(tree),
                          "--database-url", history.database_url, "--from", history.since.isoformat(),
                          "--until", history.until.isoformat(), "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["format"] == "opsconductor-replay" and doc["version"] == 1
    assert doc["baseline"].startswith("the running version #")
    assert doc["moved"]["notifications"]["noc-email firing"] == {"before": 2, "after": 0}
