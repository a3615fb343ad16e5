"""Delivery of the notifications the pipeline decided, on a thread and event loop of its own.

`submit` never blocks: notifications go into a bounded queue (overflow is counted in
`dropped` and logged). The notifier's loop takes them out, files them into groups
(grouping.py), and sends every message that is due as its own task, so a slow or failing
channel delays only its own messages. Messages of one group (or, ungrouped, of one alert) on
one channel go out in order, so a PagerDuty resolve never overtakes its trigger. Each
attempt becomes notification_log rows, written in batches by one database thread.

Time: grouping reads the injected `clock` (seconds, monotonic). Tests drive a fake clock and
call `flush()`, which processes everything due at that moment and waits until it is sent
and logged. `stop()` sends what groups still hold (rather than losing it), waits up to its
timeout for deliveries in flight, and writes the log.

`dry_run=True` records every non-`log` channel as `skipped` without contacting it.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable, Sequence

import httpx

from ..config.bundle import Bundle, Channel
from ..pipeline.effects import Notification
from ..rules.fields import alert_fields
from ..store.notification_log import NotificationAttempt, record_notifications
from .channels import DRIVERS, DeliveryError, Driver
from .delivery import RetryPolicy, deliver
from .grouping import Grouper
from .message import Message, alert_view

log = logging.getLogger("opsconductor.notify")
MAX_CONCURRENCY_PER_CHANNEL = 8


class Notifier:
    def __init__(self, connect: Callable, bundle_provider: Callable[[], Bundle], max_queue: int = 10_000, *,
                 clock: Callable[[], float] = time.monotonic, dashboard_url: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, policy: RetryPolicy | None = None,
                 dry_run: bool = False, tick: float = 0.5) -> None:
        self._connect = connect  # () -> context manager yielding a psycopg connection
        self._bundle = bundle_provider
        self._max = max_queue
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._clock = clock
        self._dashboard_url = dashboard_url
        self._transport = transport
        self._policy = policy or RetryPolicy()
        self._dry_run = dry_run
        self._tick = tick
        self._grouper = Grouper(dashboard_url)
        self._thread = threading.Thread(target=self._run, name="opsc-notifier", daemon=True)
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsc-notify-log")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._stop_timeout = 5.0
        self._tasks: set[asyncio.Task] = set()
        self._journal: list[NotificationAttempt] = []
        self._drivers: dict[str, tuple[Channel, Driver]] = {}
        self._locks: dict[tuple, tuple[asyncio.Lock, int]] = {}  # order key → (lock, users)
        self._grouped = 0  # notifications waiting in groups, as of the loop's last pass
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.sent = 0
        self.failed = 0
        self.skipped = 0
        self.dropped = 0
        self.retried = 0

    # ---- the caller's side (any thread) ------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5.0)

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        self._stop_timeout = timeout
        self._stopping = True
        self._wake()
        self._thread.join(timeout + 5.0)

    def submit(self, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            try:
                self._queue.put_nowait(n)
            except queue.Full:
                self.dropped += 1  # counted and logged; the pipeline never blocks on delivery
                log.error("notification queue full (%d): dropped %s notification of alert %s for channel %s",
                          self._max, n.kind, n.alert.id, n.channel)
        self._wake()

    def pending(self) -> int:
        """Notifications not yet delivered: queued, waiting in a group, or being sent."""
        return self._queue.qsize() + self._grouped + len(self._tasks)

    def flush(self, now: float | None = None, timeout: float = 30.0) -> None:
        """Process everything submitted, send every group due at `now` (default: the clock),
        and wait until those deliveries are done and logged."""
        if self._loop is None or not self._thread.is_alive():
            raise RuntimeError("the notifier is not running; call start() first")
        asyncio.run_coroutine_threadsafe(self._flush(now), self._loop).result(timeout)

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._event.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    # ---- the notifier's loop -----------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()
            self._db.shutdown(wait=True)

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._event = asyncio.Event()
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False, trust_env=False)
        self._loop = loop
        self._ready.set()
        writer = asyncio.create_task(self._journal_loop())
        try:
            while not self._stopping:
                due = self._grouper.next_due()
                wait = self._tick if due is None else min(self._tick, max(0.0, due - self._clock()))
                try:
                    await asyncio.wait_for(self._event.wait(), wait)
                except (asyncio.TimeoutError, TimeoutError):
                    pass
                self._event.clear()
                self._process(self._clock())
            self._process(self._clock())
            await self._finish(self._stop_timeout)
        finally:
            writer.cancel()
            await self._write_journal()
            await self._client.aclose()
            for _, driver in self._drivers.values():
                driver.close()
            self._loop = None

    async def _flush(self, now: float | None) -> None:
        self._process(self._clock() if now is None else now)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._write_journal()

    async def _finish(self, timeout: float) -> None:
        if self._tasks:
            done, late = await asyncio.wait(list(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
                log.error("notifier stopped with %d deliveries unfinished", len(late))

    def _process(self, now: float) -> None:
        """Queue → groups → messages due → delivery tasks. Takes from the queue only while
        what waits in groups and tasks stays under the bound, so memory is bounded too."""
        bundle = None
        room = self._max - self._grouper.pending() - len(self._tasks)
        while room > 0:
            try:
                n = self._queue.get_nowait()
            except queue.Empty:
                break
            room -= 1
            bundle = bundle or self._bundle()
            site = _site(bundle, n.alert.device_ip)
            view = alert_view(n.alert, site, self._dashboard_url)
            labels = alert_fields(n.alert, site) if n.action and n.action.group_by else {}
            message = self._grouper.add(n, view, labels, now)
            if message is not None:
                self._dispatch(message, ("alert", n.alert.fingerprint))
        for message in self._grouper.due(now, everything=self._stopping):
            self._dispatch(message, ("group", message.group_key))
        self._grouped = self._grouper.pending()

    def _dispatch(self, message: Message, order_key: tuple) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(message, (message.channel, *order_key)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, msg: Message, order_key: tuple) -> None:
        lock, users = self._locks.get(order_key) or (asyncio.Lock(), 0)
        self._locks[order_key] = (lock, users + 1)
        try:
            async with lock, self._slot(msg.channel):
                await self._deliver_now(msg)
        except asyncio.CancelledError:
            self._record_all(msg, "failed", "the notifier stopped before this notification was delivered", msg.channel)
            raise
        except Exception as exc:  # never lose the record of a notification to a bug
            log.exception("delivery of a %s notification for rule %s to channel %s failed", msg.kind, msg.rule, msg.channel)
            self._record_all(msg, "failed", f"internal error: {type(exc).__name__}", msg.channel)
        finally:
            lock, users = self._locks[order_key]
            if users <= 1:
                del self._locks[order_key]
            else:
                self._locks[order_key] = (lock, users - 1)

    async def _deliver_now(self, msg: Message) -> None:
        channel = self._bundle().channel(msg.channel)
        if channel is None:
            self._record_all(msg, "failed", f"channel {msg.channel!r} is not in the running config", msg.channel)
            return
        driver = self._driver(channel)
        if driver is None:
            self._record_all(msg, "skipped", f"channel type {channel.type!r} has no delivery", channel.type)
            return
        if self._dry_run and channel.type != "log":
            self._record_all(msg, "skipped", f"dry run: would send to {channel.type} channel {channel.name}",
                             driver.recipient)
            return
        try:
            requests = driver.requests(msg)
        except DeliveryError as exc:
            self._record_all(msg, "failed", driver.mask(exc.message), driver.recipient)
            return
        for out in requests:
            await deliver(driver, msg, out, self._policy, self._record)

    def _driver(self, channel: Channel) -> Driver | None:
        known = self._drivers.get(channel.name)
        if known is not None and known[0] is channel:
            return known[1]
        cls = DRIVERS.get(channel.type)
        if cls is None:
            return None
        driver = cls(channel, self._client)
        if known is not None:
            known[1].close()
        self._drivers[channel.name] = (channel, driver)
        return driver

    def _slot(self, channel: str) -> asyncio.Semaphore:
        return self._slots.setdefault(channel, asyncio.Semaphore(MAX_CONCURRENCY_PER_CHANNEL))

    # ---- the notification log ----------------------------------------------------------------

    def _record(self, attempts: list[NotificationAttempt]) -> None:
        for a in attempts:
            if a.status == "sent":
                self.sent += 1
            elif a.status == "failed":
                self.failed += 1
            elif a.status == "skipped":
                self.skipped += 1
            elif a.status == "retrying":
                self.retried += 1
        self._journal.extend(attempts)

    def _record_all(self, msg: Message, status: str, error: str, recipient: str) -> None:
        now = datetime.now(timezone.utc)
        self._record([NotificationAttempt(n.alert.id, msg.channel, recipient[:255], status, msg.rule, error_message=error,
                                          payload={"kind": msg.kind, "title": n.alert.title}, sent_at=now)
                      for n in msg.notifications])

    async def _journal_loop(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            await self._write_journal()

    async def _write_journal(self) -> None:
        if not self._journal:
            return
        batch, self._journal = self._journal, []
        try:
            await asyncio.get_running_loop().run_in_executor(self._db, self._write, batch)
        except Exception:  # the log is best effort; delivery already happened
            log.exception("could not record %d notification attempts", len(batch))

    def _write(self, batch: list[NotificationAttempt]) -> None:
        for i in range(0, len(batch), 500):
            with self._connect() as conn:
                record_notifications(conn, batch[i:i + 500])


_SITES: dict[int, tuple[Bundle, dict[str, str | None]]] = {}


def _site(bundle: Bundle, ip: str | None) -> str | None:
    if not ip:
        return None
    known = _SITES.get(id(bundle))
    if known is None or known[0] is not bundle:
        _SITES.clear()  # one config version at a time
        known = _SITES[id(bundle)] = (bundle, {d.ip: d.site for d in bundle.devices})
    return known[1].get(ip)
