"""Delivery of notifications the pipeline decided, off the pipeline's thread.

Every attempt becomes a notification_log row. The `log` channel is delivered here;
other channel types are recorded as `skipped` with the reason until their delivery
modules exist (webhook, email, Slack, Teams, PagerDuty: the notifications issue).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable, Sequence

from ..config.bundle import Bundle
from ..pipeline.effects import Notification
from ..store.notification_log import NotificationAttempt, record_notifications

log = logging.getLogger("opsconductor.notify")


class Notifier:
    def __init__(self, connect: Callable, bundle_provider: Callable[[], Bundle], max_queue: int = 10_000):
        self._connect = connect  # () -> context manager yielding a psycopg connection
        self._bundle = bundle_provider
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="opsc-notifier", daemon=True)
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0
        self.skipped = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def submit(self, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            try:
                self._queue.put_nowait(n)
            except queue.Full:
                self.dropped += 1  # counted and logged; the pipeline never blocks on delivery
                log.error("notification queue full: dropped %s for alert %s", n.channel, n.alert.id)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < 200:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            attempts = [self._deliver(n) for n in batch]
            try:
                with self._connect() as conn:
                    record_notifications(conn, attempts)
            except Exception:  # the log is best effort; delivery already happened
                log.exception("could not record %d notification attempts", len(attempts))

    def _deliver(self, n: Notification) -> NotificationAttempt:
        channel = self._bundle().channel(n.channel)
        started = time.monotonic()
        payload = {"kind": n.kind, "title": n.alert.title, "severity": n.alert.severity.value,
                   "device": n.alert.device_name or n.alert.device_ip, "rule": n.rule}
        if channel is None:
            self.failed += 1
            return NotificationAttempt(n.alert.id, n.channel, n.channel, "failed", n.rule,
                                       error_message=f"channel {n.channel!r} is not in the running config",
                                       payload=payload)
        if channel.type == "log":
            level = getattr(logging, str(channel.settings.get("level", "info")).upper(), logging.INFO)
            log.log(level, "[%s] %s %s: %s (%s, rule %s)", channel.name, n.kind.upper(), n.alert.severity.value,
                    n.alert.title, n.alert.device_ip, n.rule)
            self.sent += 1
            return NotificationAttempt(n.alert.id, channel.name, "log", "sent", n.rule, payload=payload,
                                       response_time_ms=int((time.monotonic() - started) * 1000))
        self.skipped += 1
        return NotificationAttempt(n.alert.id, channel.name, channel.type, "skipped", n.rule,
                                   error_message=f"delivery for channel type {channel.type!r} is not built yet",
                                   payload=payload)
