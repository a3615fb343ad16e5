"""GitOps: a pushed commit of the config repository goes live through the reload
coordinator, or is refused with every file:line error — without anyone on the server.

The repository is mirrored into a local cache; each commit to apply is checked out into
a directory of its own (a git worktree), never into the running tree, then validated,
rule-tested and swapped in by LiveConfig. Syncs are serialized; the same commit twice
applies once; a commit older than the running one is refused unless forced.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .config.durations import parse_duration
from .config.secrets import Secret, is_reference, resolve
from .errors import OpscError
from .reload import LiveConfig, ReloadOutcome
from .replay.on_sync import CommitReplays, extra_pages, headline
from .store.config_versions import get_current, list_versions

log = logging.getLogger("opsconductor.gitops")
KEEP_CHECKOUTS = 5
_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitError(OpscError):
    """git failed (fetch, checkout); the message carries git's own words, secrets masked."""


@dataclass(frozen=True)
class GitSettings:
    url: str
    ref: str
    secret: Secret | None  # the webhook HMAC secret (also GitLab's X-Gitlab-Token)
    poll_interval: float | None
    work_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str], data_dir: Path,
                 file: Mapping[str, Any] | None = None) -> "GitSettings | None":
        """From OPSC_GIT_* (which win), else the `git:` keys of the server settings file."""
        file = file or {}
        url = environ.get("OPSC_GIT_URL") or file.get("url")
        if not url:
            return None
        raw_secret = environ.get("OPSC_SYNC_SECRET")
        secret = file.get("sync_secret")
        if raw_secret:
            secret = resolve(raw_secret, environ) if is_reference(raw_secret) else Secret("${env:OPSC_SYNC_SECRET}", raw_secret)
        interval = environ.get("OPSC_GIT_POLL_INTERVAL")
        return cls(url=url, ref=environ.get("OPSC_GIT_REF") or file.get("ref") or "main", secret=secret,
                   poll_interval=parse_duration(interval) if interval else file.get("poll_interval"),
                   work_dir=data_dir / "git")


@dataclass(frozen=True)
class SyncResult:
    status: str  # applied | refused | unchanged | ignored
    reason: str
    commit: str | None
    reload: ReloadOutcome | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "reason": self.reason, "commit": self.commit}
        if self.reload is not None:
            out.update({"version_id": self.reload.version_id,
                        "errors": self.reload.as_dict()["errors"] if self.reload.outcome == "refused" else []})
        return out


def verify_signature(settings: GitSettings, body: bytes, headers: Mapping[str, str]) -> bool:
    """GitHub/Gitea `X-Hub-Signature-256: sha256=<hex>` over the raw body, or GitLab's
    `X-Gitlab-Token`; constant-time comparisons only."""
    if settings.secret is None or not settings.secret.available:
        return False
    key = settings.secret.reveal().encode()
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = lowered.get("x-hub-signature-256")
    if signature:
        expected = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip().encode(), expected.encode())
    token = lowered.get("x-gitlab-token")
    if token:
        return hmac.compare_digest(token.encode(), key)
    return False


def parse_push(body: bytes) -> tuple[str | None, str | None]:
    """(ref, commit) of a GitHub, Gitea or GitLab push body; (None, None) for an empty body."""
    if not body.strip():
        return None, None
    try:
        push = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the push body is not JSON: {exc}") from None
    if not isinstance(push, dict):
        raise ValueError("the push body must be a JSON object")
    ref = push.get("ref")
    commit = push.get("checkout_sha") or push.get("after")
    if ref is not None and not isinstance(ref, str):
        raise ValueError("'ref' must be a string like refs/heads/main")
    if commit is not None and (not isinstance(commit, str) or not _SHA.match(commit)):
        raise ValueError("'after' must be a 40-character commit SHA")
    return ref, commit


class GitSync:
    def __init__(self, settings: GitSettings, live: LiveConfig, replays: CommitReplays | None = None):
        self.settings = settings
        self.live = live
        self.replays = replays  # each synced commit replayed against the running tree (and the gate)
        self.cache = settings.work_dir / "cache.git"
        self.checkouts = settings.work_dir / "checkouts"
        self._lock = threading.Lock()
        self.applied: list[str] = []  # commits applied by this process, oldest first (checkouts kept)

    # ---- entry points ----------------------------------------------------------------------

    def handle_push(self, body: bytes, force: bool = False) -> SyncResult:
        """A verified push webhook (or an admin's empty-bodied request: sync the followed ref)."""
        ref, commit = parse_push(body)
        branch = f"refs/heads/{self.settings.ref}"
        if ref is not None and ref not in (branch, self.settings.ref):
            return SyncResult("ignored", f"push to {ref}; this engine follows {branch}", commit)
        return self.sync(commit, force=force)

    def sync(self, commit: str | None = None, force: bool = False, trigger: str = "git") -> SyncResult:
        with self._lock:
            self._fetch()
            target = commit or self._rev_parse(f"refs/heads/{self.settings.ref}")
            if not self._has_commit(target):
                return SyncResult("refused", f"commit {target} is not in {self.settings.ref} of the repository", target)
            running = self._running_commit()
            if running == target and not force:
                return SyncResult("unchanged", "this commit is already running", target)
            if running and not force and running != target and self._is_ancestor(target, running):
                return SyncResult("refused", f"{target[:12]} is older than the running {running[:12]}; "
                                  "send force to apply it anyway (or use rollback)", target)
            return self._apply(target, trigger)

    def start(self) -> SyncResult:
        """At start: resume the last applied commit (from config_versions, so a refused branch
        head cannot keep the engine down), then sync the branch head: applied when it is good,
        else refused and recorded while the resumed version runs."""
        last = self._last_applied_commit()
        if last is not None:
            try:
                resumed = self.sync(last, force=True, trigger="start:last-applied")
                if resumed.status != "applied":
                    log.warning("could not resume the last applied commit %s: %s", last[:12], resumed.reason)
            except OpscError as exc:
                log.error("could not resume the last applied commit %s: %s", last[:12], exc)
        try:
            head = self.sync(trigger="start")
        except OpscError as exc:
            if self.live.bundle is None:
                raise
            log.error("could not sync %s at start (%s); running the last applied commit %s", self.settings.url,
                      exc, (self.live.bundle.git_commit or "")[:12])
            return SyncResult("refused", str(exc), None)
        if head.status == "refused" and self.live.bundle is not None:
            log.error("the head of %s (%s) is refused: %s; running the last applied commit %s", self.settings.ref,
                      (head.commit or "")[:12], head.reason, (self.live.bundle.git_commit or "")[:12])
        return head

    def _last_applied_commit(self) -> str | None:
        try:
            with self.live.connect() as conn:
                current = get_current(conn)
        except Exception as exc:  # noqa: BLE001 - without the database there is nothing to resume
            log.error("could not read the last applied config version: %s", exc)
            return None
        return current.git_commit if current is not None else None

    def rollback(self, actor: str) -> SyncResult:
        """Re-apply the commit of the version applied before the running one (from
        config_versions, so it works across restarts)."""
        with self._lock:
            running = self._running_commit()
            with self.live.connect() as conn:
                versions = list_versions(conn, limit=200)
            previous = next((v.git_commit for v in versions if v.outcome.value == "applied" and v.git_commit
                             and v.git_commit != running and not v.is_current), None)
            if previous is None:
                return SyncResult("refused", "no earlier applied commit to roll back to", None)
            self._fetch()
            return self._apply(previous, f"rollback:{actor}")

    # ---- git ---------------------------------------------------------------------------------

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after 120 s") from None
        if out.returncode != 0:
            raise GitError(f"git {args[0]} failed: {self._mask(out.stderr.strip() or out.stdout.strip())}")
        return out.stdout.strip()

    def _mask(self, text: str) -> str:
        return re.sub(r"//[^/@\s]+@", "//***@", text)  # credentials in an https URL

    def _fetch(self) -> None:
        if not (self.cache / "HEAD").exists():
            self.settings.work_dir.mkdir(parents=True, exist_ok=True)
            self._git("clone", "--mirror", "--quiet", self.settings.url, str(self.cache))
        else:
            self._git("--git-dir", str(self.cache), "fetch", "--prune", "--force", "--quiet", "origin")

    def _rev_parse(self, rev: str) -> str:
        return self._git("--git-dir", str(self.cache), "rev-parse", "--verify", f"{rev}^{{commit}}")

    def _has_commit(self, commit: str) -> bool:
        try:
            self._rev_parse(commit)
            return True
        except GitError:
            return False

    def _is_ancestor(self, older: str, newer: str) -> bool:
        result = subprocess.run(["git", "--git-dir", str(self.cache), "merge-base", "--is-ancestor", older, newer],
                                capture_output=True, timeout=60)
        return result.returncode == 0

    def _running_commit(self) -> str | None:
        bundle = self.live.bundle
        if bundle is None or not str(bundle.root).startswith(str(self.checkouts)):
            return None
        return bundle.git_commit

    def _apply(self, commit: str, trigger: str) -> SyncResult:
        target = self.checkouts / commit
        if not target.exists():
            self.checkouts.mkdir(parents=True, exist_ok=True)
            self._git("--git-dir", str(self.cache), "worktree", "add", "--detach", "--force", str(target), commit)
        baseline = self._running_tree(target)
        gated = self.replays is not None and baseline is not None and self.replays.gate.max_extra_pages is not None
        if gated:
            assert baseline is not None  # gated only against a running tree
            refusal = self._gate(commit, target, baseline)
            if refusal is not None:
                return refusal
        outcome = self.live.request(f"{trigger}:{commit[:12]}", config_dir=target)
        if self.replays is not None and baseline is not None and not gated:
            self.replays.in_background(commit, target, baseline)
        if outcome.outcome == "refused":
            return SyncResult("refused", f"{len(outcome.errors)} error(s) in {commit[:12]}", commit, outcome)
        self.live.config_dir = target  # SIGHUP and the API reload this tree from now on
        if not self.applied or self.applied[-1] != commit:
            self.applied.append(commit)
        self._prune()
        return SyncResult("applied", f"version {outcome.version_id} from {commit[:12]}", commit, outcome)

    def _running_tree(self, target: Path) -> Path | None:
        bundle = self.live.bundle
        if bundle is None or Path(bundle.root) == target:
            return None
        return Path(bundle.root)

    def _gate(self, commit: str, target: Path, baseline: Path) -> SyncResult | None:
        """The replay gate: a commit that would page more than allowed is refused, and runs nothing."""
        assert self.replays is not None and self.replays.gate.max_extra_pages is not None
        diff = self.replays.run(commit, target, baseline)
        if diff is None:  # the replay failed: said in the log and on /config; the gate does not block on it
            return None
        extra, allowed = extra_pages(diff), self.replays.gate.max_extra_pages
        if extra <= allowed:
            return None
        reason = (f"replay gate: {commit[:12]} would have sent {extra} more paging notifications than the running "
                  f"version over the last {self.replays.gate.since / 3600:g} h (at most {allowed}); {headline(diff)}")
        log.error("%s", reason)
        return SyncResult("refused", reason, commit)

    def _prune(self) -> None:
        keep = set(self.applied[-KEEP_CHECKOUTS:])
        for path in self.checkouts.iterdir():
            if path.name not in keep:
                subprocess.run(["git", "--git-dir", str(self.cache), "worktree", "remove", "--force", str(path)],
                               capture_output=True, timeout=60)
                shutil.rmtree(path, ignore_errors=True)
