"""Helpers of the web tests: settings with tokens, alerts to insert, a fake EngineView."""
from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.pipeline.commands import CommandAnswer, OperatorCommand, Outcome
from opsconductor.engine.store.silences import reserve_id
from opsconductor.engine.store.direct import run_command
from opsconductor.engine.model import Alert, Severity, fingerprint
from opsconductor.web.app import TokenSpec, WebSettings

VIEWER, OPERATOR, ADMIN = "viewer-token-7f3a9c", "operator-token-51be02", "admin-token-c0ffee99"
_n = itertools.count(1)
T0 = datetime(2025, 11, 20, 8, 0, tzinfo=timezone.utc)


def secret(value: str, name: str) -> Secret:
    return Secret(f"${{env:{name}}}", value)


def settings(read_access: str = "public", **kw) -> WebSettings:
    return WebSettings(
        admin_token=secret(ADMIN, "OPSC_ADMIN_TOKEN"),
        tokens=(TokenSpec("vera", "viewer", secret(VIEWER, "VIEWER_TOKEN")),
                TokenSpec("otto", "operator", secret(OPERATOR, "OPERATOR_TOKEN"))),
        read_access=read_access, session_secret=b"s" * 32, dashboard_url="http://127.0.0.1:8080", **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_alert(**kw) -> Alert:
    n = next(_n)
    device_ip = kw.pop("device_ip", f"10.0.{n // 250}.{n % 250 + 1}")
    alert_type = kw.pop("alert_type", f"link_down_{n}")
    received = kw.pop("received_at", T0 + timedelta(seconds=n))
    base = dict(source_system="prtg", source_alert_id=f"s{n}", severity=Severity.MAJOR, category="network",
                alert_type=alert_type, title=f"Link down on port {n}", occurred_at=received, received_at=received,
                fingerprint=fingerprint("prtg", device_ip, alert_type, ""), device_ip=device_ip,
                device_name=f"sw-{n:03d}", message="Interface went down", connector="prtg-main",
                raw_data={"sensor": n})
    base.update(kw)
    return Alert(**base)


class FakeEngine:
    """A test double of web.settings.EngineView (our own interface)."""

    def __init__(self, db_url: str | None = None) -> None:
        self.db_url = db_url
        self.reloads: list[str] = []
        self.webhooks: list[tuple[str, bytes]] = []
        now = datetime.now(timezone.utc)
        self.loaded_at = (now - timedelta(hours=3)).isoformat()
        self.attempt_at = (now - timedelta(minutes=25)).isoformat()

    def config_status(self) -> dict:
        return {"current": {"id": 7, "content_hash": "9f2c4e1ab07d3c55e8a41f6b2d9e07c3a1b5f8e2d4c6a8b0e1f3a5c7d9b2e4f6", "git_commit": "4e1d9a27c3b8f05e6a1d2c3b4a5f6e7d8c9b0a1f",
                            "loaded_at": self.loaded_at, "files": [{"path": "connectors.d/prtg.yaml"}, {"path": "rules/routing.yaml"}]},
                "last_attempt": {"outcome": "refused", "at": self.attempt_at, "errors": [
                    {"file": "rules/routing.yaml", "line": 14, "col": 5, "path": "$.rules[0].match",
                     "message": "unknown field 'sevrity'", "hint": "did you mean 'severity'?", "level": "error"}]}}

    def reload(self, actor: str) -> dict:
        self.reloads.append(actor)
        return {"outcome": "applied", "version": 8}

    def rule_hits(self) -> dict[str, int]:
        return {"page-oncall-critical": 42, "camera-under-switch": 7, "email-noc-major": 19}

    def metrics(self) -> str:
        return "# TYPE opsc_queue_depth gauge\nopsc_queue_depth 3\n"

    def health(self) -> dict:
        return {"engine": "ok", "queue_depth": 3}

    async def accept_webhook(self, connector: str, body: bytes, headers: Mapping[str, str]) -> dict:
        if connector == "full":  # what Engine.accept_webhook raises when the intake refuses (back-pressure)
            raise OverflowError("pipeline queue full (50000 waiting); retry later")
        if connector != "am":
            raise KeyError(connector)
        if headers.get("authorization") != "Bearer hook":
            raise PermissionError("bad webhook credentials")
        if not body.startswith(b"{"):
            raise ValueError("body is not a JSON object")
        self.webhooks.append((connector, body))
        return {"accepted": 1}

    # GitOps: enabled when a sync secret is given; the signature check is the real one.
    git_secret: bytes | None = None
    syncs: list = []

    def git_enabled(self) -> bool:
        return self.git_secret is not None

    def verify_sync(self, body: bytes, headers: Mapping[str, str]) -> bool:
        from opsconductor.engine.gitops import GitSettings, verify_signature

        settings = GitSettings("file:///x", "main", Secret("${env:S}", self.git_secret.decode()), None, Path("/tmp"))
        return verify_signature(settings, body, headers)

    def sync(self, body: bytes, force: bool, actor: str) -> dict:
        from opsconductor.engine.gitops import parse_push

        ref, commit = parse_push(body)
        self.syncs = [*self.syncs, (ref, commit, force, actor)]
        if ref not in (None, "refs/heads/main"):
            return {"status": "ignored", "reason": f"push to {ref}", "commit": commit}
        return {"status": "applied", "reason": "version 9", "commit": commit, "version_id": 9, "errors": []}

    def rollback(self, actor: str) -> dict:
        return {"status": "applied", "reason": f"rolled back by {actor}", "commit": "a" * 40}

    # Operators' commands run through the real command stage and the real write path
    # (engine/store/direct.py) on the test's database, in this thread.
    db_url: str | None = None
    changed: list = []

    def command(self, command: OperatorCommand) -> Future:
        assert self.db_url is not None, "this FakeEngine has no database for commands"
        with psycopg.connect(self.db_url) as conn:
            answer = run_command(conn, command)
        if answer.outcome is Outcome.APPLIED and isinstance(answer, CommandAnswer):
            self.changed = [*self.changed, (command.alert_id, answer.new_status.value)]
        future: Future = Future()
        future.set_result(answer)
        return future

    # Silences: the config's (one nightly window), which alerts one holds (set by a test);
    # ad-hoc ones are commands (above), numbered from the database's sequence.
    held: dict = {}

    def silence_id(self) -> int:
        assert self.db_url is not None, "this FakeEngine has no database for commands"
        with psycopg.connect(self.db_url) as conn:
            return reserve_id(conn)

    def silences(self) -> list:
        from opsconductor.engine.config.bundle import Matcher, Silence, Source, TimeWindow

        return [Silence("nightly-backup-window", (Matcher("site", "eq", "north"),), None, None,
                        TimeWindow(("mon", "tue", "wed", "thu", "fri"), "01:00", "03:00", "Europe/Berlin"),
                        "noc", "backup traffic saturates the WAN", Source("rules/silences.yaml", 4))]

    def silenced(self) -> dict[str, str]:
        return dict(self.held)




def new_id() -> str:
    return str(uuid.uuid4())
