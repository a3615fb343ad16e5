"""One reload coordinator for every trigger: file watch, SIGHUP, HTTP, git sync.

A reload loads, validates and compiles the new tree off to the side (a new durable_rules
generation, a new pipeline); only then is the pipeline swapped in, atomically. A refused
tree leaves the running version untouched; the refusal with its file:line errors is
recorded. Triggers are serialized; triggers that arrive during a reload coalesce into
one more reload.

A batch holds the generation it started with (`held`); the swap retires the old one,
which is freed when the last batch holding it ends (pipeline/holders.py), never while
in use and without the reload waiting for it.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from .config.bundle import Bundle
from .config.loader import git_commit as git_commit_of
from .config.loader import content_hash as tree_hash
from .config.loader import tree_texts
# At import, not lazily: pysnmp keeps the ImportError of its optional pysmi, and with it every
# frame of the import, which would pin the first Pipeline for good.
from .connectors.registry import NORMALIZERS
from .store.config_rows import projection_of
from .errors import Level, OpscError, Problem
from .heap import trim
from .pipeline.pipeline import Pipeline
from .rules.engine import RuleEngine
from .pipeline.state import ActiveAlerts
from .rules.host import RulesHost
from .rules.limits import validate_tree
from .ruletest import run_tests
from .store.config_trees import store_tree
from .store.config_versions import record_applied, record_refused
from .store.projection import ConfigProjection, apply_projection

log = logging.getLogger("opsconductor.reload")


@dataclass(frozen=True)
class ReloadOutcome:
    outcome: str  # applied | refused | unchanged
    triggers: tuple[str, ...]
    content_hash: str | None
    git_commit: str | None
    version_id: int | None
    errors: tuple[Problem, ...] = ()
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "triggers": list(self.triggers), "content_hash": self.content_hash,
                "git_commit": self.git_commit, "version_id": self.version_id, "at": self.at.isoformat(),
                "seconds": round(self.seconds, 3),
                "errors": [{"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message,
                            "hint": p.hint, "level": p.level.value} for p in self.errors]}


class LiveConfig:
    """The running pipeline and the reload machinery around it (thread-safe swap)."""

    def __init__(self, config_dir: str | Path, host: RulesHost, state: ActiveAlerts, connect: Callable[[], Any],
                 *, run_rule_tests: bool = True, on_swap: Callable[[Bundle | None, Bundle], None] | None = None):
        self.config_dir = Path(config_dir)
        self.host = host
        self.state = state
        self.connect = connect
        self.run_rule_tests = run_rule_tests
        self.on_swap = on_swap
        self._pipeline: Pipeline | None = None
        self._swap_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()
        self.last: ReloadOutcome | None = None
        self._projected: ConfigProjection | None = None  # what _project wrote last (its tables unchanged since)
        self.last_success: ReloadOutcome | None = None
        self.reloads = 0

    @property
    def pipeline(self) -> Pipeline:
        with self._swap_lock:
            if self._pipeline is None:
                raise OpscError("no config version is running yet")
            return self._pipeline

    @contextmanager
    def held(self) -> Iterator[Pipeline]:
        """The running pipeline, held for one batch: a reload meanwhile does not free it."""
        with self._swap_lock:  # taken and held before a swap can retire it
            if self._pipeline is None:
                raise OpscError("no config version is running yet")
            pipeline = self._pipeline
            pipeline.holders.acquire()
        try:
            yield pipeline
        finally:
            pipeline.holders.release()

    @property
    def bundle(self) -> Bundle | None:
        with self._swap_lock:
            return self._pipeline.view.bundle if self._pipeline else None

    # ---- triggers --------------------------------------------------------------------------

    def request(self, trigger: str, config_dir: Path | None = None) -> ReloadOutcome:
        """Reload now (blocking), or join the reload that is about to run."""
        with self._pending_lock:
            self._pending.append(trigger)
        with self._reload_lock:
            with self._pending_lock:
                triggers, self._pending = tuple(self._pending), []
            if not triggers:  # coalesced: a reload that started after our request covered it
                assert self.last is not None
                return self.last
            outcome = self._reload_or_refuse(triggers, config_dir or self.config_dir)
            if outcome.outcome != "unchanged":
                trim()  # what the old version (or the refused one) held goes back to the system
            self.last = outcome
            if outcome.outcome == "applied":
                self.last_success = outcome
            self.reloads += 1
            return outcome

    async def arequest(self, trigger: str, config_dir: Path | None = None) -> ReloadOutcome:
        return await asyncio.to_thread(self.request, trigger, config_dir)

    # ---- one reload ------------------------------------------------------------------------

    def _reload_or_refuse(self, triggers: tuple[str, ...], config_dir: Path) -> ReloadOutcome:
        """A reload that fails in a way nobody foresaw is a refusal like any other: recorded
        with its error, the running version untouched, the trigger answered (never a 500, and
        the file watcher keeps watching)."""
        started = time.monotonic()
        try:
            return self._reload(triggers, config_dir)
        except Exception as exc:  # noqa: BLE001 - the net under every reload trigger
            log.debug("config reload crashed", exc_info=True)
            error = Problem(str(config_dir), 0, 0, "$", f"the reload failed: {type(exc).__name__}: {str(exc)[:300]}",
                            hint="the running version stays; fix the cause (see the engine log) and reload again")
            git_commit = None
            try:
                git_commit = git_commit_of(config_dir)
            except Exception:  # noqa: BLE001
                pass
            content_hash = _hash_of_refused([error])
            self._record_refused(content_hash, git_commit, [error], None)
            log.error("config reload (%s) refused: %s", ",".join(triggers), error.format())
            return ReloadOutcome("refused", triggers, content_hash, git_commit, None, (error,),
                                 seconds=time.monotonic() - started)

    def _reload(self, triggers: tuple[str, ...], config_dir: Path) -> ReloadOutcome:
        started = time.monotonic()
        current = self.bundle
        if current is not None and config_dir == Path(current.root) and tree_hash(config_dir) == current.content_hash:
            return ReloadOutcome("unchanged", triggers, current.content_hash, current.git_commit,
                                 self._pipeline.view.version_id if self._pipeline else None,
                                 seconds=time.monotonic() - started)
        result = validate_tree(config_dir, check_secrets=True)
        bundle = result.bundle
        errors = list(result.errors)
        if bundle is not None and current is not None and bundle.content_hash == current.content_hash \
                and config_dir == Path(current.root):  # changed back while it was being read
            return ReloadOutcome("unchanged", triggers, bundle.content_hash, bundle.git_commit,
                                 self._pipeline.view.version_id if self._pipeline else None,
                                 seconds=time.monotonic() - started)
        # One rules generation, compiled and loaded once: the rule tests run on it, then it goes live.
        rules = None
        if bundle is not None and not errors:
            try:
                rules = RuleEngine(self.host, bundle)
            except OpscError as exc:
                errors.append(Problem("rules/", 0, 0, "$", f"the rules do not compile: {exc}"))
        if rules is not None and bundle is not None and self.run_rule_tests and bundle.tests:
            try:
                failures = [r for r in run_tests(bundle, self.host, rules=rules) if not r.passed]
            except Exception as exc:  # noqa: BLE001 - a test the runner cannot run refuses the version
                src = bundle.tests[0].source
                errors.append(Problem(src.file, src.line, src.col, src.path,
                                      f"the rule tests could not run: {type(exc).__name__}: {str(exc)[:300]}"))
                failures = []
            errors += [Problem(r.test.source.file, r.test.source.line, r.test.source.col, r.test.source.path,
                               f"rule test {r.test.name!r} failed: {r.failure}") for r in failures]
        new_pipeline = None
        if not errors and bundle is not None:
            new_pipeline = Pipeline(bundle, self.host, self.state, normalizers=NORMALIZERS, rules=rules)
        elif rules is not None:
            rules.close()
        content_hash = bundle.content_hash if bundle else _hash_of_refused(result.problems)
        git_commit = bundle.git_commit if bundle else git_commit_of(config_dir)
        if errors:
            self._record_refused(content_hash, git_commit, errors, bundle)
            log.error("config reload (%s) refused: %d error(s)\n%s", ",".join(triggers), len(errors),
                      "\n".join(p.format() for p in errors[:50]))
            return ReloadOutcome("refused", triggers, content_hash, git_commit, None, tuple(errors),
                                 seconds=time.monotonic() - started)
        assert bundle is not None and new_pipeline is not None  # no errors: a tree loaded, its pipeline made
        try:
            version_id = self._record_applied(bundle)
        except Exception:
            new_pipeline.close()
            raise
        new_pipeline.set_version(version_id)
        if self._pipeline is not None:
            new_pipeline.view.reuse(self._pipeline.view)
        with self._swap_lock:
            old, self._pipeline = self._pipeline, new_pipeline
        if self.on_swap is not None:
            try:
                self.on_swap(old.view.bundle if old else None, bundle)
            except Exception:  # noqa: BLE001 - the version is live; its side effects are best effort
                log.exception("after applying config version %s", version_id)
        self._project(bundle, version_id)  # after the swap: the tables are a read model, not the engine
        if old is not None:
            old.close()  # freed now, or by the batch that still holds it when that batch ends
        log.info("config version %s applied (%s; hash %s%s) in %.0f ms", version_id, ",".join(triggers),
                 bundle.content_hash[:12], f", commit {bundle.git_commit[:12]}" if bundle.git_commit else "",
                 (time.monotonic() - started) * 1000)
        return ReloadOutcome("applied", triggers, bundle.content_hash, bundle.git_commit, version_id,
                             tuple(p for p in result.problems if p.level is Level.WARNING),
                             seconds=time.monotonic() - started)

    def _record_applied(self, bundle: Bundle) -> int:
        with self.connect() as conn:
            version = record_applied(conn, content_hash=bundle.content_hash, git_commit=bundle.git_commit,
                                     files=list(bundle.files))
            texts = tree_texts(bundle)
            try:  # the text, for `opsc replay`'s default baseline; never a reason to refuse
                if texts is not None:
                    store_tree(conn, bundle.content_hash, texts)
            except Exception:  # noqa: BLE001
                log.exception("could not store the text of config version %s", version.id)
        return version.id

    def _project(self, bundle: Bundle, version_id: int) -> None:
        """Bring connectors/oid_mappings/dependencies/notification_rules to this version, in one transaction."""
        projection = projection_of(bundle)
        try:
            with self.connect() as conn:
                apply_projection(conn, projection, version_id, previous=self._projected)
        except Exception:  # derived data: the engine keeps running on the new version regardless
            self._projected = None  # compare with the tables themselves next time
            log.exception("the config projection for version %s failed", version_id)
        else:
            self._projected = projection

    def _record_refused(self, content_hash, git_commit, errors, bundle) -> None:
        try:
            with self.connect() as conn:
                record_refused(conn, content_hash=content_hash, git_commit=git_commit, errors=errors,
                               files=list(bundle.files) if bundle else [])
        except Exception as exc:  # noqa: BLE001 - the refusal is still answered and logged
            log.error("could not record the refused config version: %s", exc)


def _hash_of_refused(problems) -> str:
    import hashlib

    return hashlib.sha256("\n".join(p.format() for p in problems).encode()).hexdigest()
