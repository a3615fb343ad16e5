"""Sending one request with bounded quick retries, recording every attempt.

Retried: timeouts, connection errors, 5xx and 429 (DeliveryError.retry). Not retried: other
4xx, bad configuration (an unavailable secret) and bugs. The wait between attempts doubles
from `backoff_base` up to `backoff_max`; a Retry-After is honoured up to `retry_after_max`,
and with `gates` it holds the whole channel (every message to it), not just this request.
When the quick retries are spent on a transient error, `park` (the notifier's) may park the
request's rows for a later attempt (parking.py): the last attempt is then `retrying` too.
Every attempt is one notification_log row per alert the request covers: `retrying` when
another attempt follows, else `sent` or `failed`. Errors and payloads are masked with the
channel's secrets before they leave this module.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import orjson

from ..store.notification_log import NotificationAttempt
from .channels.base import DeliveryError, Driver, Outbound
from .message import Message

log = logging.getLogger("opsconductor.notify")
PAYLOAD_MAX = 64 * 1024  # characters of a request body kept in the log
SENT, FAILED, PARKED = "sent", "failed", "parked"
# The quick retries are spent on a transient error: (the error, the attempt's masked log
# text) → (parked, what the log row adds), or None: failed, "retries exhausted".
Park = Callable[[DeliveryError, str], "tuple[bool, str] | None"]


@dataclass(frozen=True)
class Result:
    status: str  # SENT, FAILED or PARKED
    error: DeliveryError | None = None  # the last attempt's, when not sent

    @property
    def sent(self) -> bool:
        return self.status == SENT


@dataclass(frozen=True)
class RetryPolicy:
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 120.0

    def delay(self, attempt: int, error: DeliveryError) -> float:
        """Seconds to wait after failed attempt number `attempt` (from 0)."""
        if error.retry_after is not None:
            return min(error.retry_after, self.retry_after_max)
        return min(self.backoff_max, self.backoff_base * (2 ** attempt))


class ChannelGates:
    """When each channel may be called again. A 429 (or a 503 with Retry-After) holds the
    whole channel, every message to it, for the time the receiver asked; other channels
    go on (each waits on its own gate)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def hold(self, channel: str, seconds: float) -> None:
        self._until[channel] = max(self._until.get(channel, 0.0), self._clock() + seconds)

    async def wait(self, channel: str, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        while (left := self._until.get(channel, 0.0) - self._clock()) > 0:
            await sleep(left)
        self._until.pop(channel, None)

    def held(self) -> dict[str, float]:
        """Channels held now and the seconds left."""
        now = self._clock()
        return {c: round(t - now, 3) for c, t in self._until.items() if t > now}


async def deliver(driver: Driver, msg: Message, out: Outbound, policy: RetryPolicy,
                  record: Callable[[list[NotificationAttempt]], None],
                  sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                  extra: dict | None = None, gates: ChannelGates | None = None, park: Park | None = None,
                  tries: int | None = None) -> Result:
    """Send `out` until it is accepted or the quick retries (`tries` attempts in all, else
    the channel's retries + 1) are spent."""
    payload = _payload(driver, msg, out, extra)
    total = tries or driver.retries + 1
    for attempt in range(total):
        if gates is not None:
            await gates.wait(driver.name, sleep)
        started = time.monotonic()
        try:
            async with asyncio.timeout(driver.timeout + 1.0):  # no task of its own, as wait_for makes on 3.11
                detail = await driver.send(out)
        except DeliveryError as exc:
            error = exc
        except (asyncio.TimeoutError, TimeoutError):
            error = DeliveryError(f"timed out after {driver.timeout:g}s", retry=True)
        except Exception as exc:  # a driver bug must not kill the notifier; it is recorded, not retried
            error = DeliveryError(f"{type(exc).__name__}: {exc}", retry=False)
        else:
            elapsed = _ms(started)
            record(_rows(driver, msg, out, "sent", None, {**payload, "attempt": attempt + 1, "result": detail}, elapsed))
            return Result(SENT)
        elapsed = _ms(started)
        last = not error.retry or attempt + 1 >= total
        message = driver.mask(f"attempt {attempt + 1}/{total}: {error.message}")
        parked = park(error, message) if last and error.retry and park is not None else None
        if parked is not None and parked[0]:
            message += f"; {parked[1]}"
            record(_rows(driver, msg, out, "retrying", message, {**payload, "attempt": attempt + 1}, elapsed))
            log.warning("notification to channel %s (%s) for rule %s: %s", driver.name, driver.type, msg.rule, message)
            return Result(PARKED, error)
        if not last:
            wait = policy.delay(attempt, error)
            message += f"; retrying in {wait:g}s"
            if gates is not None and error.retry_after is not None:
                gates.hold(driver.name, wait)  # the receiver's rate limit is the channel's, not this message's
                message += " (the channel waits)"
                wait = 0.0  # the gate does the waiting
        elif parked is not None:
            message += f"; {parked[1]}"
        elif error.retry:
            message += "; retries exhausted"
        record(_rows(driver, msg, out, "failed" if last else "retrying", message,
                     {**payload, "attempt": attempt + 1}, elapsed))
        log.log(logging.ERROR if last else logging.WARNING, "notification to channel %s (%s) for rule %s: %s",
                driver.name, driver.type, msg.rule, message)
        if last:
            return Result(FAILED, error)
        await sleep(wait)
    raise AssertionError("unreachable: the loop returns on its last attempt")


def _payload(driver: Driver, msg: Message, out: Outbound, extra: dict | None) -> dict:
    """What the log keeps of a request: the body as sent (masked), encoded once. An HTTP
    channel's wire bytes are already its JSON; the log stores them as a pre-encoded fragment
    instead of parsing and dumping the body again."""
    request: Any
    if isinstance(out.data, bytes) and out.data[:1] in (b"{", b"["):
        text = out.data.decode("utf-8", "replace")
    else:
        try:
            text = orjson.dumps(out.body, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = orjson.dumps(driver.mask(str(out.body))).decode()
    if driver.secrets:
        text = driver.mask(text)
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:  # a mask cut through an escape: keep it as a string
            text = orjson.dumps(text).decode()
    if len(text) > PAYLOAD_MAX:
        request = {"truncated": text[:PAYLOAD_MAX]}
    else:
        request = orjson.Fragment(text)
    payload = {"kind": msg.kind, "type": driver.type, "alerts": len(out.alerts), "request": request}
    if msg.group_key:
        payload["group"] = {"key": msg.group_key, "labels": driver.mask_json(dict(msg.group_labels)),
                            "size": len(msg.notifications)}
    if msg.storm:
        payload["storm"] = dict(msg.storm)
    if extra:
        payload.update(driver.mask_json(extra))
    return payload


def _rows(driver: Driver, msg: Message, out: Outbound, status: str, error: str | None, payload: dict,
          elapsed: int) -> list[NotificationAttempt]:
    """One row per alert; the request body is kept on the first row only (a group of fifty
    would otherwise store it fifty times); the others point at that alert."""
    now = datetime.now(timezone.utc)
    rows = []
    first = out.alerts[0].id if out.alerts else None
    for i, alert in enumerate(out.alerts):
        body = payload if i == 0 else {**payload, "request": {"logged_with_alert": first}}
        rows.append(NotificationAttempt(alert.id, driver.name, driver.recipient[:255], status, msg.rule,
                                        error_message=error, payload=body, sent_at=now, response_time_ms=elapsed))
    return rows


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
