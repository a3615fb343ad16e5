"""The notifier in a process of its own, beside the batch writer.

Why: in one process the notifier (rendering, HTTP, the log) and the stage thread take
turns at one GIL; a profile at 1,000 alerts/s had the notifier's two threads at ~28% of
the engine process's samples. In a child they use the other core and the pipeline never
waits on delivery, not even for the GIL. The outbox is the only hand-over: the engine
wakes the child after each committed batch; the child reads, delivers and settles on
its own connection (notifier.py does the work, unchanged).

Protocol (pickle frames over the child's stdin/stdout; both ends are ours):
    parent → child   ("start", database_url, dashboard_url, dry_run)  first (never on the command line)
                     ("config", root, content_hash)  the tree the engine runs; the child loads it
                     ("wake",)                       new rows in the outbox (heeded while the child's
                                                     LISTEN is down: NOTIFY wakes it first)
                     ("stop", timeout)
    child → parent   ("status", dict)                every half second: Notifier.status()
                     ("failed", [(alert id, fingerprint, rule, channel, decided at), …])
The config is loaded by the child from the same tree (a Bundle does not pickle); if the
tree changed in between, the engine's reload of that change sends it again. If the child
dies, the parent starts another: what it had not settled is still in the outbox.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..frames import end_child, receive, send

log = logging.getLogger("opsconductor.notify")
STATUS_EVERY = 0.5


class NotifierProcess:
    """The engine's side: the same calls as Notifier (start, stop, wake, status, counters)."""

    def __init__(self, database_url: str, *, dashboard_url: str | None = None, dry_run: bool = False,
                 on_failed: Callable[[list[tuple]], None] | None = None) -> None:
        self._url = database_url
        self._dashboard_url = dashboard_url
        self._dry_run = dry_run
        self._on_failed = on_failed
        self._config: tuple[str, str] | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # frames to the child, and replacing it
        self._closing = False
        self._status: dict = {}
        self._woken = threading.Event()
        self.restarts = 0

    def start(self, root: str, content_hash: str) -> None:
        self._config = (root, content_hash)
        with self._lock:
            self._spawn()
        threading.Thread(target=self._waker, name="opsc-notifier-waker", daemon=True).start()

    def config_changed(self, root: str, content_hash: str) -> None:
        self._config = (root, content_hash)
        self._send(("config", root, content_hash))

    def wake(self, *_: object) -> None:
        """Any thread, never blocks: the waker thread sends one frame for any number of calls."""
        self._woken.set()

    def _waker(self) -> None:
        while not self._closing:
            self._woken.wait()
            self._woken.clear()
            if not self._closing:
                self._send(("wake",))

    def status(self) -> dict:
        return {"outbox_depth": 0, "outbox_oldest_seconds": 0.0, "parked": 0, "in_flight": 0, "grouped": 0,
                "storm_guard": {}, "storms_started": 0, "rate_limited": {}, "channels_down": {}, "channel_outages": 0,
                "channels_at_quota": [], "sent": 0, "failed": 0, "skipped": 0, "retried": 0, "parks": 0,
                "database_errors": 0, **self._status, "process_restarts": self.restarts,
                "pid": self._child.pid if self._child else None}

    def __getattr__(self, name: str):  # sent, failed, skipped, retried: the child's counters
        if name in ("sent", "failed", "skipped", "retried"):
            return self._status.get(name, 0)
        if name == "dropped":
            return 0
        raise AttributeError(name)

    def alive(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        self._closing = True
        self._woken.set()
        child = self._child
        if child is None:
            return
        self._send(("stop", timeout))
        if end_child(child, timeout + 15.0):
            log.error("the notifier process did not stop; killed (its outbox rows are sent at the next start)")

    def _send(self, frame: tuple[object, ...]) -> None:
        with self._lock:
            child = self._child
            if child is None:
                return
            assert child.stdin is not None  # spawned with pipes
            try:
                send(child.stdin, frame)
            except (BrokenPipeError, OSError, ValueError):
                pass  # it died: its reader starts the next one, which reads the outbox from the start

    def _spawn(self) -> None:
        """Start a child and send it what it needs (_lock held)."""
        child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 start_new_session=True)  # Ctrl-C reaches the engine only; it stops the child
        assert child.stdin is not None and child.stdout is not None  # stdin=PIPE, stdout=PIPE
        self._child = child
        log.info("notifier process started (pid %d)", child.pid)
        threading.Thread(target=self._read, args=(child,), name="opsc-notifier-reader", daemon=True).start()
        try:
            send(child.stdin, ("start", self._url, self._dashboard_url, self._dry_run))
            if self._config is not None:
                send(child.stdin, ("config", *self._config))
        except (BrokenPipeError, OSError):
            pass

    def _read(self, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None  # stdout=PIPE
        for frame in receive(child.stdout, "the notifier process", child.kill):
            if frame[0] == "status":
                self._status = frame[1]
            elif frame[0] == "failed" and self._on_failed is not None:
                try:
                    self._on_failed(frame[1])
                except Exception:
                    log.exception("could not hand %d failed notifications to the engine", len(frame[1]))
        child.wait()
        if self._closing:
            return
        time.sleep(0.5)  # a child that dies at once must not make this spin
        with self._lock:
            if self._closing:
                return
            self.restarts += 1
            log.error("the notifier process ended (exit code %s); starting another (the outbox holds what it had"
                      " not delivered)", child.returncode)
            self._spawn()


# ---- child side ----------------------------------------------------------------------------------

def child_main() -> None:
    import psycopg

    from ..config.loader import load_bundle
    from ..gc_tuning import freeze_startup, tune_gc
    from .notifier import Notifier

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the engine decides when delivery ends
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=os.environ.get("OPSC_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    frames_in, frames_out = sys.stdin.buffer, os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # nothing but frames goes down the pipe
    out_lock = threading.Lock()

    def emit(frame: tuple) -> None:
        with out_lock:
            send(frames_out, frame)

    frames = receive(frames_in, "the engine")
    kind, url, dashboard_url, dry_run = next(frames)
    assert kind == "start"
    bundle: list = [None]

    def load(root: str, content_hash: str) -> None:
        try:
            loaded = load_bundle(Path(root))
        except Exception as exc:  # keep delivering with the version we have
            log.error("notifier process: could not load the config at %s (%s); keeping the previous one", root, exc)
            return
        if loaded.content_hash != content_hash:
            log.info("notifier process: the tree at %s changed since the engine loaded it; the engine's reload"
                     " will say so", root)
        bundle[0] = loaded

    notifier = Notifier(lambda: psycopg.connect(url, autocommit=True), lambda: bundle[0], dashboard_url=dashboard_url,
                        dry_run=dry_run, on_failed=lambda failed: emit(("failed", failed)), listen_url=url)
    stopped = threading.Event()

    def report() -> None:
        while not stopped.wait(STATUS_EVERY):
            try:
                emit(("status", notifier.status()))
            except (BrokenPipeError, OSError):
                return

    timeout = 5.0
    try:
        for frame in frames:
            if frame[0] == "wake":
                if not notifier.listening:  # else NOTIFY opsc_outbox woke it at the commit already
                    notifier.wake()
            elif frame[0] == "config":
                load(frame[1], frame[2])
                if not notifier.started and bundle[0] is not None:
                    tune_gc()
                    freeze_startup()  # the config and the modules: out of the collector's way
                    notifier.start()
                    threading.Thread(target=report, daemon=True).start()
                    notifier.wake()
            elif frame[0] == "stop":
                timeout = frame[1]
                break
    finally:
        notifier.stop(timeout)
        stopped.set()
        try:
            emit(("status", notifier.status()))
        except (BrokenPipeError, OSError):
            pass


if __name__ == "__main__":
    # Run the copy of this module imported under its package name (as store/writer.py does).
    from opsconductor.engine.notify.process import child_main as main

    main()
