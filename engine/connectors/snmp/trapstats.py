"""Counters of the trap receiver (a frozen snapshot for the API and /metrics), the drop
reasons /metrics exports (`opsc_trap_dropped_total{connector, reason}`), and a
rate-limited, bounded warning log for what it drops."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, fields
from typing import Callable

MAX_MESSAGE = 400  # characters of one log message; a hostile datagram cannot flood the log

@dataclass(frozen=True)
class ReceiverStatsSnapshot:
    received: int = 0  # datagrams read from the sockets
    decoded: int = 0  # notifications accepted (traps and informs, all versions)
    informs_answered: int = 0
    dropped_community: int = 0
    dropped_v3_unknown_user: int = 0  # also v3 datagrams when no v3 user is configured
    dropped_v3_auth: int = 0  # wrong digest, decryption error, not in time window, security level
    v3_discovery: int = 0  # engine-id probes answered with a Report (a v3 inform sender's first step)
    dropped_unsupported: int = 0  # well-formed, but not a notification (GetRequest, Response …)
    malformed: int = 0
    handed_off: int = 0  # events the sink accepted
    sink_errors: int = 0  # sink calls that raised (their batch is retried)
    dropped_overflow: int = 0  # events (or v3 datagrams) beyond the bounded queues
    pending: int = 0  # events waiting for the sink
    dropped_socket_buffer: int = 0  # datagrams the kernel dropped, its receive buffer full (Linux; never received)


# /metrics reason label → the snapshot counter it reads
DROP_REASONS = (
    ("bad_community", "dropped_community"),
    ("v3_auth", "dropped_v3_auth"),
    ("unknown_user", "dropped_v3_unknown_user"),
    ("malformed", "malformed"),
    ("unsupported", "dropped_unsupported"),
    ("buffer_overflow", "dropped_overflow"),
    ("socket_buffer", "dropped_socket_buffer"),
)


def kernel_drops(inodes: set[int]) -> int:
    """Datagrams the kernel dropped on these sockets (receive buffer full): the `drops` column of
    /proc/net/udp and udp6 (Linux). 0 where that is not readable."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and cols[9].isdigit() and int(cols[9]) in inodes:
                        total += int(cols[12])
        except OSError:
            continue
    return total


def drop_samples(connector: str, snap: ReceiverStatsSnapshot) -> list[tuple[dict[str, str], int]]:
    """The samples of opsc_trap_dropped_total for one receiver (every reason, zeros included)."""
    return [({"connector": connector, "reason": reason}, getattr(snap, name)) for reason, name in DROP_REASONS]


class ReceiverStats:
    """Counters shared by the reader threads and the event loop; `snapshot()` is a frozen copy."""

    _NAMES = tuple(f.name for f in fields(ReceiverStatsSnapshot) if f.name not in ("pending", "dropped_socket_buffer"))

    def __init__(self, pending: Callable[[], int], kernel_drops: Callable[[], int] = lambda: 0):
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self._NAMES, 0)
        self._pending = pending
        self._kernel_drops = kernel_drops

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                self._counts[key] += value

    def snapshot(self) -> ReceiverStatsSnapshot:
        with self._lock:
            counts = dict(self._counts)
        return ReceiverStatsSnapshot(**counts, pending=self._pending(), dropped_socket_buffer=self._kernel_drops())

    def __getattr__(self, name: str) -> int:
        if name in ReceiverStats._NAMES:
            return self._counts[name]
        if name == "pending":
            return self._pending()
        if name == "dropped_socket_buffer":
            return self._kernel_drops()
        raise AttributeError(name)


class RateLimitedLog:
    """At most one warning per reason every `interval` seconds, saying how many were held back."""

    def __init__(self, logger: logging.Logger, prefix: str, interval: float = 10.0):
        self._logger, self._prefix, self._interval = logger, prefix, interval
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, int]] = {}

    def __call__(self, reason: str, message: str, *args) -> None:
        now = time.monotonic()
        with self._lock:
            last, held = self._state.get(reason, (float("-inf"), 0))
            if now - last < self._interval:
                self._state[reason] = (last, held + 1)
                return
            self._state[reason] = (now, 0)
        try:  # formatted here, not by logging, which prints a traceback when a value cannot be shown
            text = message % args
        except Exception as exc:
            text = f"{message} (arguments not shown: {type(exc).__name__})"
        if len(text) > MAX_MESSAGE:
            text = text[:MAX_MESSAGE] + f"… ({len(text) - MAX_MESSAGE} more characters)"
        suffix = f" ({held} more like this in the last {self._interval:g} s)" if held else ""
        self._logger.warning("%s: %s%s", self._prefix, text, suffix)
