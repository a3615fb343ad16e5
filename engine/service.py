"""`opsc serve`: database, config, pipeline, connectors, reload triggers and the web app,
composed once. Also the EngineView the web layer talks to."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets as pysecrets
import signal
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import psycopg

from .config.secrets import resolve
from .config.server import ServerConfig
from .connectors.base import Backpressure
from .connectors.snmp.trapstats import drop_samples
from .connectors.registry import ENDPOINTS, RECEIVERS
from .connectors.supervisor import ConnectorSupervisor
from .errors import OpscError, StoreError
from .gc_tuning import freeze_startup, tune_gc
from .gitops import GitSettings, GitSync, verify_signature
from .replay.on_sync import CommitReplays, ReplayGate
from .intake.journal import MAX_BYTES as JOURNAL_MAX_BYTES, Journal, Written
from .intake.replay import journal_directory, replay_journal
from .connectors.base import CONNECTOR_STATES
from .metrics import Exposition
from .notify import report as notify_report
from .notify.process import NotifierProcess
from .pipeline.commands import OperatorCommand
from .pipeline.silencing import SilenceCommand
from .pipeline.effects import TELLS
from .pipeline.state import ActiveAlerts
from .worker import PipelineWorker
from .reload import LiveConfig
from .rules.host import RulesHost
from .store.alerts import load_active_alerts
from .store.connector_status import ConnectorStatus as StoredStatus
from .store.connector_status import count_alerts, set_status
from .store.notification_log import load_throttles, load_told
from .store.silences import live as live_silences, reserve_id
from .store.database import Database
from .store.migrate import apply_migrations
from .store.writer import wait_for_orphan_writers
from .watch import watch_config

if TYPE_CHECKING:  # the web stack loads when serve starts it
    from ..web.settings import WebSettings

log = logging.getLogger("opsconductor")
_STATUSES = frozenset(s.value for s in StoredStatus)
STATUS_EVERY = 10.0  # seconds between connector status writes
SPOOLING_AFTER = 5.0  # seconds without a commit while the journal holds events: /healthz says degraded
WEBHOOK_ON_LOOP_BYTES = 64 * 1024  # a webhook body up to this is read on the event loop (~0.1 ms); larger, in a thread


@dataclass(frozen=True)
class ServeSettings:
    config_dir: Path
    database_url: str | None
    data_dir: Path | None
    host: str = "127.0.0.1"
    port: int = 8080
    watch: bool = True
    run_rule_tests: bool = True
    server: ServerConfig = ServerConfig()
    journal_max_bytes: int = JOURNAL_MAX_BYTES  # beyond this, intake answers 503 (docs/faults.md)


class Engine:
    """The running engine; implements the web layer's EngineView."""

    def __init__(self, settings: ServeSettings, database_url: str):
        self.settings = settings
        self.database_url = database_url
        self.state = ActiveAlerts()
        self.host = RulesHost()
        self.connect = lambda: psycopg.connect(database_url)
        self.live = LiveConfig(settings.config_dir, self.host, self.state, self.connect,
                               run_rule_tests=settings.run_rule_tests, on_swap=self._on_swap)
        self.notifier = NotifierProcess(database_url, dashboard_url=dashboard_url(settings),
                                        on_failed=lambda failed: self.worker.notifications_failed(failed))
        with self.connect() as conn:  # one journal per database (see intake/replay.py)
            directory = journal_directory(settings.data_dir or Path("var"), conn)
        self.journal = Journal(directory, max_bytes=settings.journal_max_bytes)
        # A batch's notifications are in the outbox once it commits: the worker only wakes the notifier.
        self.worker = PipelineWorker(self.live.held, database_url, self.notifier.wake,
                                     journal=self.journal)
        self.supervisor = ConnectorSupervisor(self.worker.submit, self._previous_state)
        self.loop: asyncio.AbstractEventLoop | None = None
        git_settings = GitSettings.from_env(os.environ, settings.data_dir or Path("var"), settings.server.git)
        replays = CommitReplays(database_url, ReplayGate.from_settings(settings.server.replay_gate))
        self.git = GitSync(git_settings, self.live, replays) if git_settings else None
        self._counted: dict[str, int] = {}

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Everything but the asyncio parts: rebuild state, load config, start the threads."""
        with self.connect() as conn:
            self.state.rebuild(load_active_alerts(conn))
            told = load_told(conn, TELLS)
            self.state.set_silences(live_silences(conn))  # then changed by operators' commands only
        log.info("rebuilt %d open alerts and %d ad-hoc silences from the database", len(self.state.by_id),
                 len(self.state.silences))
        self._told = told  # applied once the config (and so the rules' notify actions) is loaded
        if self.git is not None:  # a GitOps engine serves the followed branch, not the local tree
            try:
                self.git.start()  # a refused head leaves the last applied commit running
            except OpscError as exc:
                log.error("could not sync %s at start (%s); starting from %s", self.git.settings.url, exc,
                          self.settings.config_dir)
        if self.live.bundle is None:
            tried = self.live.last if self.git is not None else None
            outcome = tried if tried is not None and tried.outcome == "refused" else self.live.request("start")
            if outcome.outcome != "applied":
                raise OpscError("the config tree does not validate; the engine does not start:\n"
                                + "\n".join(p.format() for p in outcome.errors))
        # Who was told of which open alert: resolved notifications and throttles survive a restart.
        self.state.restore_told(self._told, self.live.pipeline.rules.notify_action)
        live = self.live.bundle
        assert live is not None  # applied just above
        longest = max((r.notify.throttle for r in live.rules if r.notify), default=0)
        if longest:
            with self.connect() as conn:
                since = datetime.now(timezone.utc) - timedelta(seconds=longest)
                self.state.restore_throttles(load_throttles(conn, TELLS, since), self.live.pipeline.rules.notify_action)
        with self.live.held() as pipeline:  # a git sync may reload meanwhile
            pipeline.restore_correlation(datetime.now(timezone.utc))
            held = pipeline.restore_held(datetime.now(timezone.utc))
        if held:
            log.info("%d open alert(s) never notified are held again until their silence or throttle ends", held)
        tune_gc()
        # What start-up built (the open alerts, the config, the compiled rules) lives as long
        # as the engine (100,000 open alerts otherwise cost ~130 ms pauses in the stage thread).
        freeze_startup()
        self.journal.open()  # before any event is accepted; refuses a second engine on this journal
        with self.connect() as conn:
            if not wait_for_orphan_writers(conn):
                log.error("a batch writer of an earlier engine process still holds its connection after 60 s;"
                          " replaying the journal anyway (an event it commits now may be stored twice)")
        bundle = self.live.bundle
        assert bundle is not None  # prepared: a version is live
        self.notifier.start(bundle.root, bundle.content_hash)
        self.worker.start()
        # What the last process accepted and did not commit runs before any connector starts.
        replay_journal(self.journal, self.connect, self.worker.submit)

    def stop(self) -> None:
        self.worker.stop()
        self.journal.close()  # what was not committed (PostgreSQL down) stays for the next start
        self.notifier.stop()
        pipeline = self.live._pipeline
        if pipeline is not None:
            pipeline.close()

    def write_statuses(self) -> None:
        """Connector status and counters into the connectors table (the dashboard reads it)."""
        statuses = self.supervisor.statuses(self.live.bundle)
        counts = dict(self.worker.stats.events_in)
        with self.connect() as conn:
            for st in statuses:
                set_status(conn, st.name, StoredStatus(st.status) if st.status in _STATUSES else StoredStatus.UNKNOWN,
                           error_message=st.error_message, polled_at=st.last_poll_at, succeeded_at=st.last_success_at)
                delta = counts.get(st.name, 0) - self._counted.get(st.name, 0)
                if delta > 0:
                    count_alerts(conn, st.name, delta)
                    self._counted[st.name] = counts.get(st.name, 0)

    def _on_swap(self, old, new) -> None:
        self.notifier.config_changed(new.root, new.content_hash)  # the notifier process loads it too
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.supervisor.reconcile(new), self.loop)

    def _previous_state(self, connector: str) -> dict[str, dict[str, Any]]:
        return self.state.poll_state(connector)

    # ---- EngineView ------------------------------------------------------------------------

    def config_status(self) -> dict:
        pipeline = self.live._pipeline
        current = None
        if pipeline is not None:
            b = pipeline.view.bundle
            current = {"id": pipeline.view.version_id, "content_hash": b.content_hash, "git_commit": b.git_commit,
                       "loaded_at": self.live.last_success.at.isoformat() if self.live.last_success else None,
                       "files": list(b.files), "root": b.root}
        channels = [{"name": c.name, "type": c.type} for c in pipeline.view.bundle.channels] if pipeline else []
        return {"current": current, "last_attempt": self.live.last.as_dict() if self.live.last else None,
                "channels": channels,
                "replay": self.git.replays.latest() if self.git is not None and self.git.replays else None}

    def reload(self, actor: str) -> dict:
        return self.live.request(f"http:{actor}").as_dict()

    def check(self, what: str, name: str) -> dict:
        """`opsc check connector|channel NAME` with the running version (the admin's buttons).
        A trap receiver the engine runs already holds its port: it is not bound a second time."""
        from .check import CheckReport, check_channel, check_connector

        bundle = self.live.bundle
        if bundle is None:
            return {"ok": False, "text": "no config version is running"}
        connector = bundle.connector(name)
        if what == "channel":
            report = asyncio.run(check_channel(bundle, name, dashboard_url=dashboard_url(self.settings)))
        elif connector is not None and connector.type in RECEIVERS:
            status = next((s for s in self.supervisor.statuses(bundle) if s.name == name), None)
            report = CheckReport(f"connector {name} ({connector.type})", ok=status is not None and status.status == "ok",
                                 lines=[f"running in the engine: {status.status if status else 'not running'}; "
                                        f"{status.alerts_received if status else 0} events handed over",
                                        "(listening is not checked here: the engine holds the port)"])
        else:
            report = asyncio.run(check_connector(bundle, name))
        return {"ok": report.ok, "text": report.text()}

    def rule_hits(self) -> dict[str, int]:
        pipeline = self.live._pipeline
        return dict(pipeline.rules.hits) if pipeline is not None else {}

    def health(self) -> dict:
        alive = self.worker.alive()
        pending, waited = self.journal.pending()
        notifications = self.notifier.status()
        body = {"engine": "ok" if alive else "failing", "queue_depth": self.worker.depth(),
                "open_alerts": len(self.state.by_id), "connectors_failing": sorted(self.supervisor.errors),
                "intake": {"journal_events": pending, "spooled_events": self.worker.intake.spooled,
                           "journal_bytes": self.journal.size, "waiting_seconds": round(waited, 1)},
                "notifications": notifications}
        # Why the engine is degraded: every part adds its own (web/health.py puts them on /healthz).
        reasons = self.supervisor.reasons() + notify_report.reasons(notifications)
        if pending and waited >= SPOOLING_AFTER:  # accepted and durable, but PostgreSQL is not taking them
            reasons.append(f"spooling {pending} events for {waited:.0f} seconds")
        if reasons:
            body["reasons"] = reasons
            if alive:
                body["engine"] = "degraded"
        return body

    def command(self, command: OperatorCommand | SilenceCommand) -> Future:
        """An operator's acknowledge or resolve, or an ad-hoc silence created or ended, on the
        pipeline's queue: the Future's result is a CommandAnswer (SilenceAnswer) once it is
        committed (pipeline/commands.py, pipeline/silencing.py)."""
        return self.worker.command(command)

    def silence_id(self) -> int:
        """A new ad-hoc silence's number, reserved from the database's sequence (one query:
        call it off the event loop). StoreError when the database does not answer."""
        try:
            with self.connect() as conn:
                return reserve_id(conn)
        except psycopg.Error as exc:
            raise StoreError(f"could not reserve a silence number: {exc}") from exc

    def silenced(self) -> dict[str, str]:
        """Open alerts whose notifications a silence holds now → that silence's name."""
        from .pipeline.silences import active_silence

        pipeline, now = self.live._pipeline, datetime.now(timezone.utc)
        if pipeline is None:
            return {}
        out = {}
        for alert_id in list(self.state.held):
            alert = self.state.by_id.get(alert_id)
            silence = active_silence(alert, pipeline.view, now, self.state.adhoc_silences) if alert else None
            if silence is not None:
                out[alert_id] = silence.name
        return out

    def silences(self) -> list:
        """The running config's silences (rules/), for the silences page."""
        bundle = self.live.bundle
        return list(bundle.silences) if bundle else []

    async def accept_webhook(self, connector: str, body: bytes, headers: Mapping[str, str]) -> dict:
        """On the event loop, no thread per request: read the body, journal the events, and
        return once the journal's group commit has them on disk (one fdatasync for all the
        requests waiting then). A large body is read and journaled in a worker thread, so
        the loop keeps answering meanwhile."""
        bundle = self.live.bundle
        config = bundle.connector(connector) if bundle else None
        if config is None or config.type not in ENDPOINTS or not config.enabled:
            raise KeyError(connector)
        try:
            if len(body) > WEBHOOK_ON_LOOP_BYTES:
                events, written = await asyncio.to_thread(self._journal_webhook, config, body, headers)
            else:
                events, written = self._journal_webhook(config, body, headers)
            await self.worker.intake.durable(written)
        except Backpressure as exc:
            raise OverflowError(str(exc)) from exc
        return {"accepted": len(events)}

    def _journal_webhook(self, config, body: bytes, headers: Mapping[str, str]) -> tuple[list, Written | None]:
        events = ENDPOINTS[config.type](config, body, headers, _utcnow)
        return events, self.worker.submit(events, sync=False)

    # ---- GitOps (EngineView) ------------------------------------------------------------------

    def git_enabled(self) -> bool:
        return self.git is not None

    def verify_sync(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return self.git is not None and verify_signature(self.git.settings, body, headers)

    def sync(self, body: bytes, force: bool, actor: str) -> dict:
        assert self.git is not None  # the web offers it only when git_enabled()
        return self.git.handle_push(body, force=force).as_dict()

    def rollback(self, actor: str) -> dict:
        assert self.git is not None  # the web offers it only when git_enabled()
        return self.git.rollback(actor).as_dict()

    def metrics(self) -> str:
        out = Exposition()
        stats = self.worker.stats
        out.metric("opsc_events_in_total", "counter", "Raw events accepted, per connector",
                   [({"connector": c}, n) for c, n in sorted(stats.events_in.items())])
        out.metric("opsc_events_processed_total", "counter", "Raw events through the pipeline", [({}, stats.processed)])
        out.metric("opsc_events_rejected_total", "counter", "Raw events refused by back-pressure", [({}, stats.rejected)])
        out.metric("opsc_events_written_total", "counter", "Raw events committed with their effects",
                   [({}, stats.written)])
        out.metric("opsc_pipeline_batches_total", "counter", "Batches committed, one transaction each",
                   [({}, stats.batches)])
        out.metric("opsc_pipeline_stage_seconds_total", "counter", "Time the stage thread spent on batches (the"
                   " stages and formatting COPY text)", [({}, round(stats.process_seconds, 6))])
        out.metric("opsc_store_write_seconds_total", "counter", "Time the committed batches took in the writer, first"
                   " try to commit", [({}, round(stats.write_seconds, 6))])
        out.metric("opsc_store_write_retries_total", "counter", "Batch writes retried (PostgreSQL unreachable or"
                   " refusing)", [({}, stats.write_retries)])
        out.metric("opsc_store_writer_restarts_total", "counter", "Batch writer processes replaced after dying",
                   [({}, self.worker.writer_restarts)])
        out.metric("opsc_pipeline_queue_depth", "gauge", "Raw events waiting for the pipeline", [({}, self.worker.depth())])
        pending, _ = self.journal.pending()
        out.metric("opsc_intake_journal_events", "gauge", "Accepted events journaled and not yet committed",
                   [({}, pending)])
        out.metric("opsc_intake_spooled_events", "gauge", "Accepted events held in the journal only (memory full)",
                   [({}, self.worker.intake.spooled)])
        out.metric("opsc_intake_journal_bytes", "gauge", "Size of the intake journal's segment files",
                   [({}, self.journal.size)])
        out.metric("opsc_intake_journal_syncs_total", "counter", "fdatasync calls of the intake journal (group"
                   " commits)", [({}, self.journal.syncs)])
        stats.latency.expose(out, "opsc_pipeline_latency_seconds", "Receipt to commit of each event")
        out.metric("opsc_open_alerts", "gauge", "Open alerts in memory", [({}, len(self.state.by_id))])
        notify_report.expose(out, {**self.notifier.status(), "dropped": self.notifier.dropped})
        last, ok = self.live.last, self.live.last_success
        out.metric("opsc_config_last_reload_successful", "gauge", "Whether the last reload attempt applied",
                   [({}, 1 if last is not None and last.outcome in ("applied", "unchanged") else 0)])
        out.metric("opsc_config_last_reload_success_timestamp_seconds", "gauge", "When a config version was last applied",
                   [({}, ok.at.timestamp() if ok else 0)])
        bundle = self.live.bundle
        out.metric("opsc_config_hash", "gauge", "Hash of the running config (first 48 bits)",
                   [({"hash": bundle.content_hash}, int(bundle.content_hash[:12], 16))] if bundle else [])
        statuses = self.supervisor.statuses(bundle)
        out.metric("opsc_connector_up", "gauge", "1 when a connector is running and healthy",
                   [({"connector": s.name}, 1 if s.status == "ok" else 0) for s in statuses])
        # One series per state, 1 for the current one: a state change moves a value, it does not
        # start a new series (alert on opsc_connector_state{state="failing"} == 1).
        out.metric("opsc_connector_state", "gauge", "1 for the state a connector is in, 0 for the others",
                   [({"connector": s.name, "state": state}, 1 if s.status == state else 0)
                    for s in statuses for state in CONNECTOR_STATES])
        traps = [(name, r.stats.snapshot()) for name, r in self.supervisor.receivers()]
        out.metric("opsc_trap_datagrams_total", "counter", "Datagrams the trap receivers read",
                   [({"connector": name}, snap.received) for name, snap in traps])
        out.metric("opsc_trap_dropped_total", "counter", "Trap datagrams (or events) the receivers dropped, by reason",
                   [sample for name, snap in traps for sample in drop_samples(name, snap)])
        return out.text()


async def status_loop(engine: Engine, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.to_thread(engine.write_statuses)
        except Exception as exc:  # the dashboard shows stale status; the engine goes on
            log.error("could not write connector status: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=STATUS_EVERY)
        except asyncio.TimeoutError:
            pass


async def pull_loop(engine: Engine, stop: asyncio.Event) -> None:
    """Pull mode: fetch and apply the followed ref on the interval (sites without webhooks)."""
    git = engine.git
    assert git is not None  # started in pull mode only
    interval = git.settings.poll_interval
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
            return
        except asyncio.TimeoutError:
            pass
        try:
            result = await asyncio.to_thread(git.sync, None, False, "pull")
            if result.status != "unchanged":
                log.info("pull: %s (%s)", result.status, result.reason)
        except Exception as exc:  # a failed fetch is logged and retried on the next interval
            log.error("pull from %s failed: %s", git.settings.url, exc)


def dashboard_url(settings: ServeSettings) -> str:
    return (os.environ.get("OPSC_DASHBOARD_URL") or settings.server.dashboard_url
            or f"http://{settings.host}:{settings.port}")


def web_settings(settings: ServeSettings) -> WebSettings:
    from ..web.settings import TokenSpec, WebSettings

    admin = os.environ.get("OPSC_ADMIN_TOKEN")
    secret = os.environ.get("OPSC_SESSION_SECRET")
    return WebSettings(admin_token=resolve("${env:OPSC_ADMIN_TOKEN}") if admin else None,
                       tokens=tuple(TokenSpec(t.name, t.role, t.token) for t in settings.server.tokens),
                       read_access=settings.server.read_access,
                       session_secret=(secret.encode() if secret else pysecrets.token_bytes(32)),
                       dashboard_url=dashboard_url(settings))


async def serve(settings: ServeSettings) -> int:
    import uvicorn

    from ..web.app import create_app

    with Database(settings.database_url, settings.data_dir) as location:
        applied = apply_migrations(location.url)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        engine = Engine(settings, location.url)
        await asyncio.to_thread(engine.start)
        engine.loop = asyncio.get_running_loop()  # from now on reloads reconcile connectors
        live = engine.live.bundle
        assert live is not None  # started: a version is live
        await engine.supervisor.reconcile(live)
        app = create_app(database_url=location.url, engine=engine, settings=web_settings(settings))
        server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                                               lifespan="on", loop="none", http="httptools"))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(engine.live.arequest("sighup")))
        tasks = [asyncio.create_task(server.serve()), asyncio.create_task(status_loop(engine, stop))]
        if settings.watch and engine.git is None:
            tasks.append(asyncio.create_task(watch_config(settings.config_dir, engine.live, stop)))
        if engine.git is not None and engine.git.settings.poll_interval:
            tasks.append(asyncio.create_task(pull_loop(engine, stop)))
        print(f"OpsConductor is running: dashboard http://{settings.host}:{settings.port}/  "
              f"(database {'embedded in ' + str(settings.data_dir or 'var') if location.embedded else 'external'})",
              flush=True)
        if not os.environ.get("OPSC_ADMIN_TOKEN"):
            print("  Read-only until you set OPSC_ADMIN_TOKEN; then log in at /login with that token.", flush=True)
        await stop.wait()
        server.should_exit = True  # uvicorn finishes its requests and its lifespan
        await asyncio.wait_for(tasks[0], timeout=15)
        for t in tasks[1:]:
            t.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        await engine.supervisor.stop_all()
        await asyncio.to_thread(engine.stop)
        print("OpsConductor stopped.", flush=True)
    return 0


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
