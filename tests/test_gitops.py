"""GitOps on real git repositories (a bare repo behind a file:// URL, commits made here)."""
from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest

from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.gitops import GitSettings, GitSync, parse_push, verify_signature
from opsconductor.engine.pipeline.state import ActiveAlerts
from opsconductor.engine.reload import LiveConfig
from opsconductor.engine.rules.host import RulesHost
from waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
RULES = "channels:\n  - {{name: noc, type: log}}\nrules:\n  - name: {name}\n    notify: {{channels: [noc]}}\n"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.net", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@example.net", "PATH": "/usr/bin:/bin",
                               "HOME": str(cwd)}).stdout.strip()


class Repo:
    def __init__(self, tmp: Path):
        self.bare = tmp / "config.git"
        self.work = tmp / "work"
        git("init", "--bare", "-b", "main", str(self.bare), cwd=tmp)
        git("clone", str(self.bare), str(self.work), cwd=tmp)
        git("checkout", "-b", "main", cwd=self.work)
        for folder in ("connectors.d", "oidmaps", "dependencies.d"):
            shutil.copytree(ROOT / folder, self.work / folder)
        (self.work / "connectors.d" / "snmp-traps.yaml").write_text(
            (self.work / "connectors.d" / "snmp-traps.yaml").read_text().replace("enabled: true", "enabled: false"))
        (self.work / "rules").mkdir()

    def commit(self, rule_name: str, branch: str = "main", push: bool = True, force: bool = False) -> str:
        (self.work / "rules" / "r.yaml").write_text(RULES.format(name=rule_name))
        git("add", "-A", cwd=self.work)
        git("commit", "-qm", rule_name, cwd=self.work)
        sha = git("rev-parse", "HEAD", cwd=self.work)
        if push:
            git("push", "-q", *(["--force"] if force else []), "origin", f"HEAD:{branch}", cwd=self.work)
        return sha


@pytest.fixture
def setup(tmp_path: Path, db_url: str):
    repo = Repo(tmp_path)
    settings = GitSettings(url=f"file://{repo.bare}", ref="main", secret=Secret("${env:S}", "s3cret"),
                           poll_interval=None, work_dir=tmp_path / "data" / "git")
    live = LiveConfig(tmp_path / "unused", RulesHost(), ActiveAlerts(), lambda: psycopg.connect(db_url))
    sync = GitSync(settings, live)
    yield repo, sync, live, settings
    if live._pipeline is not None:
        live._pipeline.close()


def push_body(ref: str, sha: str) -> bytes:
    return json.dumps({"ref": ref, "after": sha, "repository": {"name": "config"}}).encode()


def rule_names(live: LiveConfig) -> list[str]:
    return [r.name for r in live.pipeline.rules.compiled.rules]


def test_valid_push_applies_and_the_same_push_twice_applies_once(setup) -> None:
    repo, sync, live, _ = setup
    sha = repo.commit("first-rule")
    result = sync.handle_push(push_body("refs/heads/main", sha))
    assert result.status == "applied", result
    assert rule_names(live) == ["first-rule"] and live.bundle.git_commit == sha
    again = sync.handle_push(push_body("refs/heads/main", sha))
    assert again.status == "unchanged"
    sha2 = repo.commit("second-rule")
    assert sync.handle_push(push_body("refs/heads/main", sha2)).status == "applied"
    assert rule_names(live) == ["second-rule"]
    with live.connect() as conn:
        commits = [r[0] for r in conn.execute(
            "SELECT git_commit FROM config_versions WHERE outcome = 'applied' ORDER BY id").fetchall()]
    assert commits == [sha, sha2]


def test_invalid_push_is_refused_and_the_old_version_keeps_serving(setup) -> None:
    repo, sync, live, _ = setup
    good = repo.commit("good-rule")
    sync.handle_push(push_body("refs/heads/main", good))
    bad = repo.commit("Bad Rule Name")
    result = sync.handle_push(push_body("refs/heads/main", bad))
    assert result.status == "refused"
    errors = result.as_dict()["errors"]
    assert errors[0]["file"] == "rules/r.yaml" and errors[0]["line"] == 4 and "not valid" in errors[0]["message"]
    assert rule_names(live) == ["good-rule"] and live.bundle.git_commit == good
    with live.connect() as conn:
        refused = conn.execute("SELECT git_commit, errors FROM config_versions WHERE outcome = 'refused'").fetchone()
    assert refused[0] == bad and refused[1][0]["file"] == "rules/r.yaml"


def test_signatures() -> None:
    settings = GitSettings("file:///x", "main", Secret("${env:S}", "s3cret"), None, Path("/tmp"))
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_signature(settings, body, {"X-Hub-Signature-256": good})
    assert not verify_signature(settings, body + b" ", {"X-Hub-Signature-256": good})
    assert not verify_signature(settings, body, {"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert not verify_signature(settings, body, {})
    assert verify_signature(settings, body, {"X-Gitlab-Token": "s3cret"})
    assert not verify_signature(settings, body, {"X-Gitlab-Token": "wrong"})
    with pytest.raises(ValueError, match="not JSON"):
        parse_push(b"<html>")
    with pytest.raises(ValueError, match="40-character"):
        parse_push(b'{"ref": "refs/heads/main", "after": "abc"}')


def test_push_to_another_branch_is_ignored(setup) -> None:
    repo, sync, live, _ = setup
    sha = repo.commit("feature-rule", branch="feature")
    result = sync.handle_push(push_body("refs/heads/feature", sha))
    assert result.status == "ignored" and "follows refs/heads/main" in result.reason
    assert live._pipeline is None


def test_force_push_older_commit_and_rollback(setup) -> None:
    repo, sync, live, _ = setup
    first = repo.commit("v1-rule")
    second = repo.commit("v2-rule")
    assert sync.sync(first).status == "applied"
    assert sync.sync(second).status == "applied"
    older = sync.sync(first)
    assert older.status == "refused" and "older than the running" in older.reason
    assert sync.sync(first, force=True).status == "applied" and rule_names(live) == ["v1-rule"]
    assert sync.sync(second).status == "applied"
    # Rewrite history: reset to first and commit something else, force-push.
    git("reset", "-q", "--hard", first, cwd=repo.work)
    rewritten = repo.commit("rewritten-rule", force=True)
    assert sync.handle_push(push_body("refs/heads/main", rewritten)).status == "applied"
    assert rule_names(live) == ["rewritten-rule"]
    back = sync.rollback("alice")
    assert back.status == "applied" and rule_names(live) == ["v2-rule"], back


def test_concurrent_syncs_serialize(setup) -> None:
    repo, sync, live, _ = setup
    shas = [repo.commit(f"rule-{i}") for i in range(3)]
    results = []
    threads = [threading.Thread(target=lambda s=s: results.append(sync.sync(s, force=True))) for s in shas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["applied"] * 3
    assert live.bundle.git_commit in shas
    with live.connect() as conn:
        current = conn.execute("SELECT count(*) FROM config_versions WHERE is_current").fetchone()[0]
    assert current == 1


def test_pull_mode_applies_the_branch_head_and_the_next_event_uses_the_new_rules(setup) -> None:
    """What pull mode does on each interval (engine/service.py pull_loop): sync() with no commit."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "pipeline"))
    from pipeline_helpers import COLD_START, trap

    repo, sync, live, _ = setup
    repo.commit("before-pull")
    assert sync.sync(trigger="pull").status == "applied"
    assert [n.rule for n in live.pipeline.process(trap(COLD_START, "10.7.0.1")).notifications] == ["before-pull"]
    head = repo.commit("after-pull")
    assert sync.sync(trigger="pull").status == "applied" and live.bundle.git_commit == head
    assert [n.rule for n in live.pipeline.process(trap(COLD_START, "10.7.0.2", at=5)).notifications] == ["after-pull"]
    assert sync.sync(trigger="pull").status == "unchanged"


def test_restart_with_a_refused_head_runs_the_last_applied_commit(setup, tmp_path, db_url) -> None:
    repo, sync, live, settings = setup
    good = repo.commit("good-rule")
    assert sync.sync().status == "applied"
    bad = repo.commit("Bad Rule Name")
    assert sync.sync().status == "refused"
    # A restart: a new process, a fresh git cache; only config_versions remembers what ran.
    restarted = LiveConfig(tmp_path / "unused", RulesHost(), ActiveAlerts(), lambda: psycopg.connect(db_url))
    fresh = GitSync(GitSettings(settings.url, settings.ref, settings.secret, None, tmp_path / "restart" / "git"),
                    restarted)
    try:
        head = fresh.start()
        assert head.status == "refused" and head.commit == bad
        assert restarted.bundle.git_commit == good and rule_names(restarted) == ["good-rule"]
        # The refusal is what the API and the dashboard show as the last attempt.
        assert restarted.last.outcome == "refused" and restarted.last.git_commit == bad
        assert restarted.last.errors[0].file == "rules/r.yaml"
        with restarted.connect() as conn:
            current = conn.execute("SELECT git_commit FROM config_versions WHERE is_current").fetchone()[0]
            last = conn.execute("SELECT outcome, git_commit FROM config_versions ORDER BY id DESC LIMIT 1").fetchone()
        assert current == good and last == ("refused", bad)
        # Fixing the branch applies as usual.
        fixed = repo.commit("fixed-rule")
        assert fresh.sync().status == "applied" and restarted.bundle.git_commit == fixed
    finally:
        if restarted._pipeline is not None:
            restarted._pipeline.close()


def test_first_start_with_a_refused_head_and_nothing_applied_before_refuses(setup) -> None:
    repo, sync, live, _ = setup
    repo.commit("Bad Rule Name")
    assert sync.start().status == "refused" and live.bundle is None and live.last.outcome == "refused"


QUIET = "channels:\n  - {name: noc, type: log}\nrules:\n  - name: only-critical\n    match: {severity: critical}\n" \
        "    notify: {channels: [noc]}\n"
LOUD = "channels:\n  - {name: noc, type: log}\nrules:\n  - name: everything\n    notify: {channels: [noc]}\n"


def _commit_rules(repo: Repo, text: str, message: str) -> str:
    (repo.work / "rules" / "r.yaml").write_text(text)
    git("add", "-A", cwd=repo.work)
    git("commit", "-qm", message, cwd=repo.work)
    git("push", "-q", "origin", "HEAD:main", cwd=repo.work)
    return git("rev-parse", "HEAD", cwd=repo.work)


def _recent_cold_starts(db_url: str, count: int) -> None:
    from datetime import datetime, timedelta, timezone

    from opsconductor.engine.connectors.snmp.trapwire import trap_payload
    from opsconductor.engine.model import RawEvent
    from opsconductor.engine.store.direct import store_raw_events

    start = datetime.now(timezone.utc) - timedelta(hours=1)
    events = [RawEvent(f"cs{i}", "snmp-traps", "snmp_trap", start + timedelta(minutes=i), f"10.77.0.{i + 1}",
                       trap_payload("1.3.6.1.6.3.1.1.5.1")) for i in range(count)]
    with psycopg.connect(db_url) as conn:
        store_raw_events(conn, events)


@pytest.mark.parametrize("gate", [2, None])
def test_a_synced_commit_is_replayed_against_the_running_one_and_the_gate_refuses_a_loud_one(setup, db_url, gate):
    from opsconductor.engine.replay.on_sync import CommitReplays, ReplayGate

    repo, _, live, settings = setup
    sync = GitSync(settings, live, CommitReplays(db_url, ReplayGate(max_extra_pages=gate)))
    quiet = _commit_rules(repo, QUIET, "quiet")
    assert sync.sync().status == "applied"
    _recent_cold_starts(db_url, 5)  # major: the quiet rule pages for none of them, the loud one for all
    loud = _commit_rules(repo, LOUD, "loud")
    result = sync.sync()
    if gate is not None:
        assert result.status == "refused" and "replay gate" in result.reason and "5 more paging" in result.reason
        assert live.bundle.git_commit == quiet
    else:
        assert result.status == "applied" and live.bundle.git_commit == loud
    # The replay runs in the background when no gate waits for it.
    eventually(lambda: (sync.replays.latest() or {}).get("state") not in (None, "running"), "the replay finished",
               timeout=120)
    latest = sync.replays.latest()
    assert latest["commit"] == loud and latest["state"] == "done", latest
    assert latest["extra_pages"] == 5 and latest["headline"].startswith("this change: +5 notifications to noc")


def test_engine_start_with_a_refused_head_serves_the_last_applied_commit(setup, tmp_path, db_url, monkeypatch) -> None:
    """`opsc serve`'s start-up (Engine.start) after a refused push and a restart."""
    import gc

    from opsconductor.engine.service import Engine, ServeSettings

    repo, sync, live, settings = setup
    good = repo.commit("good-rule")
    assert sync.sync().status == "applied"
    bad = repo.commit("Bad Rule Name")
    monkeypatch.setenv("OPSC_GIT_URL", settings.url)
    monkeypatch.setenv("OPSC_GIT_REF", "main")
    thresholds = gc.get_threshold()
    engine = Engine(ServeSettings(config_dir=tmp_path / "unused", database_url=db_url, data_dir=tmp_path / "engine",
                                  watch=False), db_url)
    engine.start()
    try:
        status = engine.config_status()
        assert status["current"]["git_commit"] == good
        assert [r.name for r in engine.live.pipeline.rules.compiled.rules] == ["good-rule"]
        attempt = status["last_attempt"]
        assert attempt["outcome"] == "refused" and attempt["git_commit"] == bad
        assert attempt["errors"][0]["file"] == "rules/r.yaml"
    finally:
        engine.stop()
        gc.unfreeze()
        gc.set_threshold(*thresholds)
