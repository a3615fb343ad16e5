"""Delivery of the notifications the pipeline decided, from the outbox, on a thread and
event loop of its own.

The pipeline writes every decision to notify into the outbox (store/outbox.py) in the
transaction that stores its alert, then calls `wake()`; it never waits on delivery. The
notifier reads the outbox in batches, oldest first (reader.py), while fewer than
`max_in_flight` notifications are in its hands, at most `channel_quota` of them per channel
(lanes.py; the outbox, not memory, is the buffer: nothing is ever dropped), files them into
groups (grouping.py), passes each message through the channel's storm guard (storm.py),
and sends every message that is due as its own task, so a slow, failing or rate-limited
channel delays only its own messages (a 429 holds only its channel: delivery.ChannelGates).
Messages of one group (or, ungrouped, of one alert) on one channel go out in order, so a
PagerDuty resolve never overtakes its trigger.

A message whose quick retries are spent on a transient error is parked (parking.py): its
rows wait in the outbox for their next attempt, out of the notifier's hands, and the channel
is down (breaker.py) until one message gets through: meanwhile its messages are parked at
once, and one probes when the back-off ends. A row is failed for good only when its
channel's retry window (`retry_for`) is over.

Every attempt becomes notification_log rows (kept in ledger.py until the next settle); a
notification that is done (sent, finally
failed or skipped) leaves the outbox in the same transaction that logs it, and a parked one
gets its next-attempt time there (`settle`, batched, retried until the database takes it).
A crash between the commit of the alert and that transaction leaves the row in the outbox,
and the next start sends it again: at-least-once. A notification that tells of a problem
(effects.TELLS) that finally failed is reported to `on_failed` as (alert id, fingerprint,
rule, channel, decided at), so the engine's throttle does not count it (it told nobody). In
`opsc serve` this class runs in a process of its own (process.py); tests and tools run it in
theirs.

Time: grouping, the storm guard, parking and the probes read the injected `clock` (seconds,
monotonic); the next-attempt times written to the outbox are that clock made wall time (the
wall time of its zero is taken at construction). Tests drive a fake clock and call
`flush()`, which reads everything pending (parked rows that are due too), processes what is
due at that moment and waits until it is sent and logged. `stop()` sends what groups still
hold, waits up to its timeout for deliveries in flight, and logs them; what it could not
send stays in the outbox for the next start.

`dry_run=True` records every non-`log` channel as `skipped` without contacting it. What it
reads of the running config (rules, channels, drivers, sites) is running.py's.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

import psycopg
import uvloop

from ..config.bundle import Bundle
from ..pipeline.effects import TELLS, Notification
from ..rules.fields import alert_fields
from ..store.outbox import OUTBOX_CHANNEL, OutboxState, PendingRow, add_pending, settle
from .breaker import Breakers
from .channels import DeliveryError
from .dbthread import DbThread
from .delivery import FAILED, PARKED, ChannelGates, RetryPolicy, deliver
from .grouping import Grouper
from .http import HttpClient
from .lanes import Lanes
from .running import RunningConfig
from .ledger import Ledger
from .message import Message, OutboxNotification, alert_view
from .parking import CHANNEL_QUOTA, ParkPolicy, retry_window
from .reader import RESCAN_EVERY, OutboxReader
from .retrying import Retrying
from .storm import StormGuard, storm_limit

log = logging.getLogger("opsconductor.notify")
MAX_CONCURRENCY_PER_CHANNEL = 32


class Notifier:
    def __init__(self, connect: Callable, bundle_provider: Callable[[], Bundle], *, max_in_flight: int = 10_000,
                 clock: Callable[[], float] = time.monotonic, dashboard_url: str | None = None,
                 policy: RetryPolicy | None = None, dry_run: bool = False, tick: float = 0.5,
                 on_failed: Callable[[list[tuple]], None] | None = None, listen_url: str | None = None,
                 rescan_every: float = RESCAN_EVERY, channel_quota: int = CHANNEL_QUOTA,
                 parking: ParkPolicy | None = None) -> None:
        self._connect = connect  # () -> a psycopg connection; autocommit saves reads a BEGIN and a COMMIT (serve)
        self._listen_url = listen_url  # LISTEN opsc_outbox there: woken at each commit, straight from PostgreSQL
        self._listening = False
        self._max = max_in_flight
        self._clock = clock
        # The clock's zero as wall time: next attempts in the outbox are the clock made wall time
        # (timedelta arithmetic, exact to the microsecond: a row parked for 30 s is due 30 s on).
        self._epoch = datetime.now(timezone.utc) - timedelta(seconds=clock())
        self._parking = parking or ParkPolicy()
        self._breakers = Breakers(self._parking)
        self._config = RunningConfig(bundle_provider, self._breakers.keep)
        self._lanes = Lanes(channel_quota, self._breakers, self._config.retry_window)
        self._retrying = Retrying(self._parking, self._breakers, self._lanes, clock, self._wall)
        self._dashboard_url = dashboard_url
        self._policy = policy or RetryPolicy()
        self._dry_run = dry_run
        self._tick = tick
        self._on_failed = on_failed
        self._grouper = Grouper(dashboard_url)
        self._storm = StormGuard(dashboard_url)
        self._gates = ChannelGates()
        self._thread = threading.Thread(target=self._run, name="opsc-notifier", daemon=True)
        self._db = DbThread(connect)
        self._reader = OutboxReader(self._db, self._lanes, max_in_flight, rescan_every=rescan_every,
                                    pause=min(tick, 0.5))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._stop_timeout = 5.0
        self._tasks: set[asyncio.Task] = set()
        self._ledger = Ledger()  # what became of each notification, until the next settle
        self._settling = asyncio.Lock()
        self._locks: dict[tuple, tuple[asyncio.Lock, int]] = {}  # order key → (lock, users)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.dropped = 0  # always 0: kept for the metric that shows it

    # ---- the caller's side (any thread) ------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5.0)

    @property
    def listening(self) -> bool:
        """LISTENing on opsc_outbox: every commit that adds rows wakes it (wake() is not needed)."""
        return self._listening

    @property
    def started(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        self._stop_timeout = timeout
        self._stopping = True
        self.wake()
        self._thread.join(timeout + 10.0)

    def wake(self, *_: object) -> None:
        """New rows are in the outbox (the pipeline committed a batch); any thread."""
        self._reader.woken()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._event.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def submit(self, notifications: Sequence[Notification]) -> tuple[str, ...]:
        """Put notifications into the outbox outside a pipeline batch (tools, tests); their
        alerts must be stored. Returns their outbox ids."""
        with self._connect() as conn:
            ids = add_pending(conn, notifications)
        self.wake()
        return ids

    @property
    def sent(self) -> int:
        return self._ledger.sent

    @property
    def failed(self) -> int:
        return self._ledger.failed

    @property
    def skipped(self) -> int:
        return self._ledger.skipped

    @property
    def retried(self) -> int:
        return self._ledger.retried

    def pending(self) -> int:
        """Notifications in the notifier's hands: read from the outbox and not yet settled."""
        return len(self._lanes)

    @property
    def parked(self) -> int:
        """Rows parked since start (parked now: status()["parked"])."""
        return self._retrying.parked

    @property
    def outbox(self) -> OutboxState:
        """The outbox's depth, age and parked rows, as last read (every 2 s)."""
        return self._reader.state

    def status(self) -> dict:
        """For /healthz and /metrics: the outbox, what is in flight, storms, held and down channels."""
        now = self._clock()
        state = self._reader.state
        return {"outbox_depth": state.depth, "outbox_oldest_seconds": round(state.oldest_seconds, 3),
                "parked": state.parked, "in_flight": len(self._lanes), "grouped": self._grouper.pending(),
                "storm_guard": self._storm.state(now), "storms_started": self._storm.storms,
                "rate_limited": self._gates.held(), "channels_down": self._breakers.state(now),
                "channel_outages": self._breakers.outages, "channels_at_quota": self._lanes.full(),
                "channel_quota": self._lanes.quota, "sent": self.sent, "failed": self.failed,
                "skipped": self.skipped, "retried": self.retried, "parks": self.parked,
                "database_errors": self._db.errors, "listening": self.listening}

    def flush(self, now: float | None = None, timeout: float = 30.0) -> None:
        """Read everything pending, send every group due at `now` (default: the clock), and
        wait until those deliveries are done and logged."""
        if self._loop is None or not self._thread.is_alive():
            raise RuntimeError("the notifier is not running; call start() first")
        asyncio.run_coroutine_threadsafe(self._flush(now), self._loop).result(timeout)

    # ---- the notifier's loop -----------------------------------------------------------------

    def _run(self) -> None:
        loop = uvloop.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        finally:
            loop.close()
            self._db.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._event = asyncio.Event()
        self._client = HttpClient()
        self._loop = loop
        self._ready.set()
        settler = asyncio.create_task(self._settle_loop())
        listener = asyncio.create_task(self._listen(self._listen_url)) if self._listen_url else None
        try:
            while not self._stopping:
                dues = [d for d in (self._grouper.next_due(), self._storm.next_due()) if d is not None]
                wait = self._tick if not dues else min(self._tick, max(0.0, min(dues) - self._clock()))
                if not self._reader.more or len(self._lanes) >= self._max:
                    try:
                        await asyncio.wait_for(self._event.wait(), wait)
                    except (asyncio.TimeoutError, TimeoutError):
                        pass
                self._event.clear()
                await self._read()
                self._process(self._clock())
            self._reader.more = True  # what was committed before stop() is sent now, not at the next start
            await self._read()
            self._process(self._clock())
            await self._finish(self._stop_timeout)
        finally:
            settler.cancel()
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
            await self._settle(final=True)
            await self._client.close()
            self._config.close()
            self._loop = None

    async def _flush(self, now: float | None) -> None:
        """Rounds of read → process → deliver → settle until a round reads nothing new (the
        in-flight bound may take several rounds to empty the outbox)."""
        while True:
            taken = self._reader.taken
            self._reader.more = True
            await self._read(due=True)
            full = False  # the in-flight bound stopped the reading: rows may wait, another round
            while self._reader.more:
                if len(self._lanes) >= self._max:
                    full = True
                    break
                await self._read()
            self._process(self._clock() if now is None else now)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            await self._settle()
            if self._reader.taken == taken and not full:
                return

    async def _finish(self, timeout: float) -> None:
        if self._tasks:
            done, late = await asyncio.wait(list(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
                log.warning("notifier stopped with %d deliveries unfinished; they stay in the outbox for the next"
                            " start", len(late))

    async def _listen(self, url: str) -> None:
        """Wake at every commit that added outbox rows (NOTIFY opsc_outbox, store/outbox.py),
        on a connection of its own in this loop; connected again after an error. The
        engine's wake() still comes too: whichever is first, one read takes the rows."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._listening = True
                    self._woken()  # what was committed before the LISTEN
                    async for _ in conn.notifies():
                        self._woken()
            except asyncio.CancelledError:
                self._listening = False
                raise
            except Exception as exc:
                self._listening = False
                log.warning("notifier: listening for new outbox rows failed (%s: %s); again in 1 s (woken by the"
                            " engine meanwhile)", type(exc).__name__, exc)
                await asyncio.sleep(1.0)

    def _woken(self) -> None:
        self._reader.woken()
        self._event.set()

    # ---- reading the outbox ------------------------------------------------------------------

    async def _read(self, due: bool = False) -> None:
        now = self._clock()
        await self._reader.read(now, self._wall(now), self._take, due)

    def _take(self, rows: list[PendingRow]) -> None:
        """Rows the reader took (their channel had room) → groups and deliveries; parked rows
        tried again go out at once, grouped as their rule groups."""
        now = self._clock()
        again: list[tuple[Notification, dict, dict]] = []
        for row in rows:
            rule = self._config.rule(row.rule_name)
            n = OutboxNotification(row.alert, row.rule_name, row.channel, row.kind, row.decided_at,
                                   rule.notify if rule is not None else None, outbox_id=row.id,
                                   attempts=row.attempts, created_at=row.created_at)
            site = self._config.site(n.alert.device_ip)
            view = alert_view(n.alert, site, self._dashboard_url)
            labels = alert_fields(n.alert, site) if n.action and n.action.group_by else {}
            if row.parked:
                self._ledger.unparked(row.id)
                again.append((n, view, labels))
                continue
            message = self._grouper.add(n, view, labels, now)
            if message is not None:
                self._admit(message, ("alert", n.alert.fingerprint), now)
        for message in self._grouper.regroup(again):
            key = ("group", message.group_key) if message.group_key else ("alert", message.alerts[0].fingerprint)
            self._admit(message, key, now)
        self._ledger.superseded(self._grouper.superseded())

    def _wall(self, now: float) -> datetime:
        return self._epoch + timedelta(seconds=now)

    # ---- from groups to deliveries -----------------------------------------------------------

    def _process(self, now: float) -> None:
        for message in self._grouper.due(now, everything=self._stopping):
            self._admit(message, ("group", message.group_key), now)
        for message in self._storm.due(now, everything=self._stopping):
            self._dispatch(message, ("group", message.group_key or message.notifications[0].alert.fingerprint))

    def _admit(self, message: Message, order_key: tuple, now: float) -> None:
        channel = self._config.channel(message.channel)
        limit = storm_limit(channel.type, channel.settings) if channel is not None else None
        if self._storm.admit(message, limit, now) is not None:
            self._dispatch(message, order_key)

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
            raise  # stopping: the rows stay in the outbox and are sent at the next start
        except Exception as exc:  # never lose the record of a notification to a bug
            log.exception("delivery of a %s notification for rule %s to channel %s failed", msg.kind, msg.rule, msg.channel)
            self._ledger.record_all(msg, "failed", f"internal error: {type(exc).__name__}", msg.channel)
            self._finished(msg, failed={n.alert.id for n in msg.notifications})
        finally:
            lock, users = self._locks[order_key]
            if users <= 1:
                del self._locks[order_key]
            else:
                self._locks[order_key] = (lock, users - 1)

    async def _deliver_now(self, msg: Message) -> None:
        channel = self._config.channel(msg.channel)
        everyone = {n.alert.id for n in msg.notifications}
        if channel is None:
            self._ledger.record_all(msg, "failed", f"channel {msg.channel!r} is not in the running config", msg.channel)
            return self._finished(msg, failed=everyone)
        driver = self._config.driver(channel, self._client)
        if driver is None:
            self._ledger.record_all(msg, "skipped", f"channel type {channel.type!r} has no delivery", channel.type)
            return self._finished(msg, failed=everyone)
        if self._dry_run and channel.type != "log":
            self._ledger.record_all(msg, "skipped", f"dry run: would send to {channel.type} channel {channel.name}",
                             driver.recipient)
            return self._finished(msg, failed=everyone)
        try:
            requests = driver.requests(msg)
        except DeliveryError as exc:
            self._ledger.record_all(msg, "failed", driver.mask(exc.message), driver.recipient)
            return self._finished(msg, failed=everyone)
        failed: set[str] = set()
        parked: set[str] = set()
        record = self._ledger.recorder(msg)
        window = retry_window(channel.settings)
        for out in requests:
            ids = {a.id for a in out.alerts}
            now = self._clock()
            wait = self._retrying.must_wait(channel.name, ids, now)
            if wait is not None:  # not attempted: parked until then, or failed if its window is over
                lost, error = self._retrying.hold(msg, ids, window, *wait)
                if lost:
                    self._ledger.record_all(msg, "failed", error, driver.recipient, only=lost)
                failed |= lost
                parked |= ids - lost
                continue
            probe = self._breakers.outage(channel.name) is not None  # must_wait gave this request the probe
            try:
                result = await deliver(driver, msg, out, self._policy, record, gates=self._gates,
                                       park=self._retrying.parker(msg, channel.name, ids, window, probe),
                                       tries=1 if probe else None)
            finally:
                if probe:
                    self._breakers.probe_ended(channel.name, self._clock())
            if result.status == PARKED:
                parked |= ids
            elif result.status == FAILED:
                failed |= ids
            if result.sent or (result.error is not None and not result.error.retry):  # the receiver answered
                if self._breakers.answered(channel.name, self._clock()):
                    self._event.set()  # its rows are read again
        self._finished(msg, failed, parked)

    def _finished(self, msg: Message, failed: set[str], parked: set[str] | None = None) -> None:
        """The message's notifications are done (out of the outbox at the next settle) or
        parked; the firing ones that reached nobody are reported (they must not throttle)."""
        self._ledger.done(getattr(n, "outbox_id", "") for n in msg.notifications
                          if not (parked and n.alert.id in parked))
        lost = [(n.alert.id, n.alert.fingerprint, n.rule, n.channel, n.at)
                for n in msg.notifications if n.alert.id in failed and n.kind in TELLS]
        if lost and self._on_failed is not None:
            try:
                self._on_failed(lost)
            except Exception:
                log.exception("could not report %d failed notifications to the engine", len(lost))

    def _slot(self, channel: str) -> asyncio.Semaphore:
        return self._slots.setdefault(channel, asyncio.Semaphore(MAX_CONCURRENCY_PER_CHANNEL))

    # ---- the notification log and the outbox acknowledgements --------------------------------

    async def _settle_loop(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            await self._settle()

    async def _settle(self, final: bool = False) -> None:
        """Attempts into the log, parked rows given their next attempt and done rows out of
        the outbox, in one transaction. On a database error everything is kept and tried
        again (the log loses nothing to a blip; the rows stay in flight, so no more are read
        meanwhile). One settle at a time: a caller that comes while the settle loop's
        transaction runs waits for it, so what was delivered before the call is settled when
        it returns (flush counts on that)."""
        async with self._settling:
            await self._settle_now(final)

    async def _settle_now(self, final: bool) -> None:
        for _ in range(20 if final else 1):
            if not (self._ledger.pending() or self._retrying.parks):
                return
            taken, parks = self._ledger.take(), self._retrying.take()
            try:
                behind = await self._db.run(settle, taken.attempts, taken.done, taken.retried, parks, taken.unparked)
            except Exception:
                self._ledger.give_back(taken)
                self._retrying.parks[:0] = parks
                if final:
                    await asyncio.sleep(0.5)
                continue
            self._lanes.remove(taken.done)
            self._lanes.remove(p.id for p in parks)
            if parks:
                self._reader.parked()
            if behind is not None:  # rows that waited behind a row taken back into flight
                self._reader.back_to(behind - 1)
                self._event.set()
            if (taken.done or parks) and len(self._lanes) < self._max:
                self._event.set()  # room again: read on
        if final and (self._ledger.pending() or self._retrying.parks):
            log.critical("could not record %d notification attempts at shutdown; their notifications stay in the"
                         " outbox and are sent again at the next start", self._ledger.attempts_pending())
