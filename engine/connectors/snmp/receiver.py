"""The SNMP trap receiver (connector type `snmp_trap`): UDP sockets → RawEvents → sink.

* `start()` binds every listen address itself (pysnmp would hide bind errors), with a
  large receive buffer where bursts wait in the kernel.
* One reader thread per socket: blocking `recvfrom` in a tight loop, up to 256 datagrams
  per wake-up; v1/v2c are decoded on the fast path (ber.py + convert.py), the community
  checked in constant time, v2c informs answered, and RawEvents queued (bounded).
* SNMPv3 datagrams go to the event loop, where `V3Engine` (pysnmp) does USM and replies.
* A flusher hands queued events to the sink in batches of ≤ 500, at least every 50 ms,
  in a thread (the engine's sink journals and fdatasyncs before it returns); a batch the
  sink refuses is kept and retried with back-off.
* v2c informs are answered by the flusher once the sink has taken their events (so an
  acknowledged inform is durable and survives a kill -9); an inform whose event is
  dropped (overflow) is not answered, and its sender retries. SNMPv3 informs too: pysnmp
  writes the Response, which is held (v3.py) and sent the same way.
See docs/snmp-traps.md.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import os
import socket
import struct
import sys
import threading
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Callable, Sequence

from ...config.bundle import ConnectorConfig
from ...config.schema import parse_listen
from ...config.secrets import SecretUnavailable
from ...errors import ConnectorError
from ...model import RawEvent
from ..base import ConnectorStatus
from . import v3 as v3mod
from .ber import BerError, UnsupportedPdu, UnsupportedVersion, decode_message
from .convert import ConvertError, notification_of
from .trapstats import RateLimitedLog, ReceiverStats, ReceiverStatsSnapshot, kernel_drops
from .trapwire import encode_response, payload_of

__all__ = ["DEFAULT_RECEIVE_BUFFER", "ReceiverStats", "ReceiverStatsSnapshot", "TrapReceiver"]
log = logging.getLogger(__name__)

DEFAULT_RECEIVE_BUFFER = 8 * 1024 * 1024
BATCH_SIZE = 500  # events per sink call
FLUSH_INTERVAL = 0.01  # seconds between flushes below BATCH_SIZE: at 1,000 traps/s 0.05 added ~25 ms to trap→page
# (p50 49 → 14 ms) for ~0.4 ms less CPU a trap; under a storm batches grow whatever the interval
MAX_PENDING = 200_000  # events queued for the sink before new ones are dropped (and counted)
MAX_V3_BACKLOG = 10_000  # v3 datagrams waiting for the event loop
_READ_BATCH = 256  # datagrams drained from a socket per wake-up
_RECV_SIZE = 65536  # larger than any UDP payload; bigger datagrams are refused by ber.py
_POLL = 0.1  # SO_RCVTIMEO: how soon a reader notices stop()
_MAX_BACKOFF = 2.0
_TRAP_TRUESIZE = 400  # usable receive-buffer bytes a small trap takes on Linux loopback, about


def _parse_listen(text: str) -> tuple[str, int]:
    """parse_listen, plus port 0 (an ephemeral port, for tests and benchmarks)."""
    if text.endswith(":0"):
        return parse_listen(text[:-1] + "1")[0], 0
    return parse_listen(text)


class _Listener:
    def __init__(self, text: str, sock: socket.socket, receive_buffer: int):
        self.text = text
        self.sock = sock
        self.receive_buffer = receive_buffer  # what getsockopt(SO_RCVBUF) reports
        self.v3_index = -1
        self.thread: threading.Thread | None = None


class TrapReceiver:
    def __init__(self, config: ConnectorConfig, sink: Callable[[list[RawEvent]], None], *,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.name = config.name
        self._sink = sink
        self._clock = clock
        s = config.settings
        self._listen = tuple(s.get("listen", ()))
        if not self._listen:
            raise ConnectorError(self.name, "no listen address", field="listen")
        self._rcvbuf = int(s.get("receive_buffer", DEFAULT_RECEIVE_BUFFER))
        self._communities = tuple(self._reveal(c) for c in s.get("communities", ()))
        self._v3_users = tuple(s.get("v3_users", ()))
        self.stats = ReceiverStats(self._pending_count, self._kernel_drops)
        self._log = RateLimitedLog(log, self.name)
        self._id_prefix = uuid.uuid4().hex[:16] + "-"
        self._ids = itertools.count(1)
        self._listeners: list[_Listener] = []
        self._queue: deque[RawEvent] = deque()
        self._qlock = threading.Lock()
        self._retry: list[RawEvent] | None = None
        self._sink_lock = threading.Lock()  # one sink call at a time, so events keep their order
        self._queued_total = 0  # events ever queued: an inform's answer waits for its event's number
        self._taken_total = 0  # of which the sink took
        self._answers: deque[tuple[int, socket.socket, bytes, tuple]] = deque()  # (event number, sock, reply, to)
        self._kicked = False
        self._v3_backlog = 0
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task | None = None
        self._v3: v3mod.V3Engine | None = None

    def status(self) -> ConnectorStatus:
        """Running means receiving: the supervisor's status row, with the events handed over."""
        now = self._clock()
        return ConnectorStatus(self.name, "ok", None, now, now, self.stats.snapshot().handed_off)

    def _reveal(self, secret) -> bytes:
        try:
            return (secret.reveal() if hasattr(secret, "reveal") else str(secret)).encode("utf-8")
        except SecretUnavailable as exc:
            raise ConnectorError(self.name, f"a community is not available: {exc}", field="communities") from exc

    # ---- life cycle ----------------------------------------------------------------------

    @property
    def bound_addresses(self) -> list[tuple[str, int]]:
        return [l.sock.getsockname()[:2] for l in self._listeners]

    @property
    def receive_buffers(self) -> dict[str, int]:
        """Listen address → receive buffer the kernel granted (Linux reports twice the request)."""
        return {l.text: l.receive_buffer for l in self._listeners}

    async def start(self) -> None:
        if self._listeners:
            raise ConnectorError(self.name, "the receiver is already running")
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        try:
            for text in self._listen:
                self._listeners.append(self._bind(text))
            if self._v3_users:
                self._v3 = v3mod.V3Engine(self.name, self._v3_users, self._loop)
                for lst in self._listeners:
                    lst.v3_index = self._v3.add_socket(lst.sock)
        except BaseException:
            self._close_sockets()
            raise
        self._wake = asyncio.Event()
        self._flusher = self._loop.create_task(self._flush_loop(), name=f"snmp-trap-flush-{self.name}")
        for i, lst in enumerate(self._listeners):
            lst.thread = threading.Thread(target=self._read_loop, args=(lst,), daemon=True,
                                          name=f"snmp-trap-{self.name}-{i}")
            lst.thread.start()
        log.info("%s: listening on %s", self.name,
                 ", ".join(f"{l.text} (receive buffer {l.receive_buffer} bytes)" for l in self._listeners))

    async def stop(self) -> None:
        if not self._listeners:
            return
        self._stopping.set()
        threads = [l.thread for l in self._listeners if l.thread]

        def join() -> None:
            for t in threads:
                t.join(5.0)
        await asyncio.to_thread(join)
        if self._flusher:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        self._flush()  # last chance for what is queued; what the sink refuses stays counted as pending
        if self._v3:
            self._v3.close()
            self._v3 = None
        self._close_sockets()

    def _close_sockets(self) -> None:
        for lst in self._listeners:
            lst.sock.close()
        self._listeners = []

    def _bind(self, text: str) -> _Listener:
        try:
            host, port = _parse_listen(text)
        except ValueError as exc:
            raise ConnectorError(self.name, f"{text!r}: {exc}", field="listen") from exc
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as exc:
            raise ConnectorError(self.name, f"cannot bind {text}: {exc.strerror or exc}", field="listen") from exc
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # 0.0.0.0 and [::] side by side
            granted = _set_receive_buffer(sock, self._rcvbuf)
            sock.bind((host, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(_POLL))
        except OSError as exc:
            sock.close()
            raise ConnectorError(self.name, f"cannot bind {text}: {exc.strerror or exc}", field="listen") from exc
        usable = granted // 2 if sys.platform.startswith("linux") else granted  # Linux reports double
        if usable < self._rcvbuf:
            log.warning("%s: %s: the kernel granted a %d-byte receive buffer, not the %d bytes asked for: "
                        "net.core.rmem_max caps it and the engine lacks CAP_NET_ADMIN to go past it. A burst of "
                        "more than about %d traps will be lost. Fix it as root: `sysctl -w net.core.rmem_max=%d` "
                        "(and keep it in /etc/sysctl.d/, see deploy/99-opsconductor-sysctl.conf; `make run` does "
                        "it when run as root), then restart", self.name, text, usable, self._rcvbuf,
                        usable // _TRAP_TRUESIZE, self._rcvbuf)
        return _Listener(text, sock, granted)

    # ---- reader threads ------------------------------------------------------------------

    def _read_loop(self, lst: _Listener) -> None:
        recv = lst.sock.recvfrom
        dontwait = socket.MSG_DONTWAIT
        while not self._stopping.is_set():
            try:
                batch = [recv(_RECV_SIZE)]
            except (BlockingIOError, InterruptedError, TimeoutError):
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    break
                self._log("socket", "%s: receive error: %s", lst.text, exc)
                self._stopping.wait(0.01)
                continue
            while len(batch) < _READ_BATCH:
                try:
                    batch.append(recv(_RECV_SIZE, dontwait))
                except OSError:
                    break
            try:
                self._process(lst, batch)
            except Exception as exc:  # _process isolates datagrams; this is the reader's last resort
                self._log("internal", "failed to process %d datagrams (%s: %s)", len(batch), type(exc).__name__, exc)
                self.stats.add(malformed=len(batch), received=len(batch))

    def _community_ok(self, community: bytes) -> bool:
        ok = False
        for accepted in self._communities:  # every one, so the time does not say which matched
            ok |= hmac.compare_digest(accepted, community)
        return ok

    def _process(self, lst: _Listener, batch: list) -> None:
        """Decode, check and queue one read batch. Faults stay with their datagram: each one is
        dropped, counted and logged (rate-limited) on its own, the others go on."""
        events: list[RawEvent] = []
        answers: list = []  # (index of the event, reply, address): answered once the sink took the event
        v3: list = []
        n = dict(received=len(batch), decoded=0, dropped_community=0, malformed=0, dropped_unsupported=0,
                 informs_answered=0, dropped_v3_unknown_user=0)
        for data, addr in batch:
            try:
                msg = decode_message(data)
                if not self._community_ok(msg.community):
                    n["dropped_community"] += 1
                    self._log("community", "trap from %s dropped: wrong community", addr[0])
                    continue
                if msg.pdu_type == "response":
                    n["dropped_unsupported"] += 1
                    self._log("pdu", "datagram from %s dropped: a Response PDU is not a notification", addr[0])
                    continue
                note = notification_of(msg)
                events.append(self._event("v1" if msg.version == 0 else "v2c", note, addr))
            except UnsupportedVersion as exc:
                if exc.version == 3 and self._v3 is not None:
                    v3.append((data, addr))
                elif exc.version == 3:
                    n["dropped_v3_unknown_user"] += 1
                    self._log("v3_off", "SNMPv3 datagram from %s dropped: no v3_users configured", addr[0])
                else:
                    n["malformed"] += 1
                    self._log("version", "datagram from %s dropped: %s", addr[0], exc.reason)
                continue
            except UnsupportedPdu as exc:
                n["dropped_unsupported"] += 1
                self._log("pdu", "datagram from %s dropped: %s", addr[0], exc.reason)
                continue
            except BerError as exc:
                n["malformed"] += 1
                self._log("malformed", "malformed datagram from %s (%d bytes): %s", addr[0], len(data), exc)
                continue
            except ConvertError as exc:
                n["malformed"] += 1
                self._log("malformed", "trap from %s dropped: %s", addr[0], exc)
                continue
            except Exception as exc:  # a decoder bug: this datagram is lost and counted, not its batch
                n["malformed"] += 1
                self._log("internal", "datagram from %s (%d bytes) dropped: the decoder failed (%s: %s); "
                          "please report it with the datagram: %s", addr[0], len(data), type(exc).__name__, exc,
                          bytes(data[:256]).hex())
                continue
            n["decoded"] += 1
            if msg.pdu_type == "inform":
                try:
                    answers.append((len(events) - 1, lst.sock, encode_response(msg), addr))
                except Exception as exc:  # a value encode_response cannot write back
                    self._log("send", "cannot answer the inform from %s: %s: %s", addr[0], type(exc).__name__, exc)
        self.stats.add(**n)
        if events:
            self._enqueue(events, answers)
        if v3:
            self._hand_v3(lst, v3)

    def _event(self, version: str, note, addr: tuple) -> RawEvent:
        return RawEvent(event_id=f"{self._id_prefix}{next(self._ids)}", connector=self.name,
                        source_system="snmp_trap", received_at=self._clock(), source_address=addr[0],
                        payload=payload_of(version, note))

    def _enqueue(self, events: list[RawEvent], answers: Sequence[tuple[int, socket.socket, bytes, tuple]] = ()) -> None:
        """Any thread: queue events for the sink, within MAX_PENDING; `answers`: (index of
        the event, socket, reply, address) of informs to answer once it is taken."""
        with self._qlock:
            room = MAX_PENDING - len(self._queue)
            lost = max(0, len(events) - room)
            if lost:
                events = events[:room]
            base = self._queued_total
            self._queue.extend(events)
            self._queued_total += len(events)
            for i, sock, reply, addr in answers:
                if i < len(events):  # a dropped event's inform stays unanswered: its sender retries
                    self._answers.append((base + i + 1, sock, reply, addr))
            kick = (len(self._queue) >= BATCH_SIZE or bool(answers)) and not self._kicked
            if kick:
                self._kicked = True
        if lost:
            self.stats.add(dropped_overflow=lost)
            self._log("overflow", "%d events dropped: %d already wait for the pipeline", lost, MAX_PENDING)
        if kick:
            self._call_soon(self._wake_flusher)

    def _call_soon(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)  # type: ignore[union-attr]
        except RuntimeError:  # the loop is closed: we are shutting down
            pass

    def _hand_v3(self, lst: _Listener, datagrams: list) -> None:
        with self._qlock:
            room = MAX_V3_BACKLOG - self._v3_backlog
            lost = max(0, len(datagrams) - room)
            datagrams = datagrams[:max(0, room)]
            self._v3_backlog += len(datagrams)
        if lost:
            self.stats.add(dropped_overflow=lost)
            self._log("overflow", "%d SNMPv3 datagrams dropped: the event loop is behind", lost)
        if datagrams:
            self._call_soon(self._feed_v3, lst, datagrams)

    # ---- event loop: v3 and the sink -----------------------------------------------------

    def _feed_v3(self, lst: _Listener, datagrams: list) -> None:
        with self._qlock:
            self._v3_backlog -= len(datagrams)
        if self._v3 is None:
            return
        events: list[RawEvent] = []
        answers: list[tuple[int, socket.socket, bytes, tuple]] = []
        n = dict(decoded=0, dropped_v3_unknown_user=0, dropped_v3_auth=0, v3_discovery=0,
                 malformed=0, dropped_unsupported=0)
        for data, addr in datagrams:
            try:
                result = self._v3.feed(lst.v3_index, data, addr)
            except Exception as exc:  # feed catches pysnmp's errors; this guards the rest of the batch
                result = v3mod.V3Result(v3mod.MALFORMED, detail=f"{type(exc).__name__}: {exc}")
            if result.outcome == v3mod.NOTIFICATION:
                events.append(self._event("v3", result.notification, addr))
                n["decoded"] += 1
                answers.extend((len(events) - 1, lst.sock, reply, to) for reply, to in result.replies)
                continue
            n[result.outcome] += 1  # outcomes are named after the counters
            if result.outcome != v3mod.DISCOVERY:
                self._log(result.outcome, "SNMPv3 datagram from %s dropped (%s: %s)", addr[0], result.outcome,
                          result.detail)
        self.stats.add(**n)
        if events:
            self._enqueue(events, answers)

    def _wake_flusher(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _flush_loop(self) -> None:
        delay = FLUSH_INTERVAL
        wake = self._wake
        while True:
            try:
                await asyncio.wait_for(wake.wait(), delay)  # type: ignore[union-attr]
            except TimeoutError:
                pass
            wake.clear()  # type: ignore[union-attr]
            with self._qlock:
                self._kicked = False
                idle = not self._queue and self._retry is None
            if idle:
                continue
            ok = await asyncio.to_thread(self._flush)  # the sink may wait on the disk (journal fsync)
            delay = FLUSH_INTERVAL if ok else min(_MAX_BACKOFF, max(delay, FLUSH_INTERVAL) * 2)

    def _flush(self) -> bool:
        """Hand everything queued to the sink; False when the sink refused (the batch is kept)."""
        with self._sink_lock:
            return self._flush_locked()

    def _flush_locked(self) -> bool:
        while True:
            batch = self._retry
            if batch is None:
                with self._qlock:
                    count = min(BATCH_SIZE, len(self._queue))
                    if not count:
                        return True
                    batch = [self._queue.popleft() for _ in range(count)]
            try:
                self._sink(batch)
            except Exception as exc:  # back-pressure or a failing pipeline: keep the batch, retry later
                self._retry = batch
                self.stats.add(sink_errors=1)
                self._log("sink", "the pipeline refused %d events (%s: %s); keeping them and retrying",
                          len(batch), type(exc).__name__, exc)
                return False
            self._retry = None
            self.stats.add(handed_off=len(batch))
            self._answer(len(batch))

    def _answer(self, taken: int) -> None:
        """The sink took `taken` more events (journaled): answer the informs among them."""
        answered = 0
        with self._qlock:
            self._taken_total += taken
            due = []
            while self._answers and self._answers[0][0] <= self._taken_total:
                due.append(self._answers.popleft())
        for _, sock, reply, addr in due:
            try:
                sock.sendto(reply, addr)
                answered += 1
            except OSError as exc:
                self._log("send", "cannot answer the inform from %s: %s", addr[0], exc)
        if answered:
            self.stats.add(informs_answered=answered)

    def _kernel_drops(self) -> int:
        inodes = set()
        for lst in list(self._listeners):
            try:
                inodes.add(os.fstat(lst.sock.fileno()).st_ino)
            except (OSError, ValueError):  # closed meanwhile
                continue
        return kernel_drops(inodes) if inodes else 0

    def _pending_count(self) -> int:
        return len(self._queue) + len(self._retry or ())


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))


def _set_receive_buffer(sock: socket.socket, size: int) -> int:
    """SO_RCVBUFFORCE when allowed (root / CAP_NET_ADMIN, past net.core.rmem_max), else SO_RCVBUF."""
    forced = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
    try:
        if forced is None:
            raise OSError("no SO_RCVBUFFORCE")
        sock.setsockopt(socket.SOL_SOCKET, forced, size)
    except OSError:  # not privileged: net.core.rmem_max applies
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
