"""Sending one request with bounded retries, recording every attempt.

Retried: timeouts, connection errors, 5xx and 429 (DeliveryError.retry). Not retried: other
4xx, bad configuration (an unavailable secret) and bugs. The wait between attempts doubles
from `backoff_base` up to `backoff_max`; a Retry-After is honoured up to `retry_after_max`.
Every attempt is one notification_log row per alert the request covers: `retrying` when
another attempt follows, else `sent` or `failed`. Errors and payloads are masked with the
channel's secrets before they leave this module.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from ..store.notification_log import NotificationAttempt
from .channels.base import DeliveryError, Driver, Outbound
from .message import Message

log = logging.getLogger("opsconductor.notify")
PAYLOAD_MAX = 64 * 1024  # characters of a request body kept in the log


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


async def deliver(driver: Driver, msg: Message, out: Outbound, policy: RetryPolicy,
                  record: Callable[[list[NotificationAttempt]], None],
                  sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                  extra: dict | None = None) -> bool:
    """Send `out` until it is accepted or retries are spent; True when sent."""
    payload = _payload(driver, msg, out, extra)
    total = driver.retries + 1
    for attempt in range(total):
        started = time.monotonic()
        try:
            detail = await asyncio.wait_for(driver.send(out), timeout=driver.timeout + 1.0)
        except DeliveryError as exc:
            error = exc
        except (asyncio.TimeoutError, TimeoutError):
            error = DeliveryError(f"timed out after {driver.timeout:g}s", retry=True)
        except Exception as exc:  # a driver bug must not kill the notifier; it is recorded, not retried
            error = DeliveryError(f"{type(exc).__name__}: {exc}", retry=False)
        else:
            elapsed = _ms(started)
            record(_rows(driver, msg, out, "sent", None, {**payload, "attempt": attempt + 1, "result": detail}, elapsed))
            return True
        elapsed = _ms(started)
        last = not error.retry or attempt + 1 >= total
        message = driver.mask(f"attempt {attempt + 1}/{total}: {error.message}")
        if not last:
            wait = policy.delay(attempt, error)
            message += f"; retrying in {wait:g}s"
        elif error.retry:
            message += "; retries exhausted"
        record(_rows(driver, msg, out, "failed" if last else "retrying", message,
                     {**payload, "attempt": attempt + 1}, elapsed))
        log.log(logging.ERROR if last else logging.WARNING, "notification to channel %s (%s) for rule %s: %s",
                driver.name, driver.type, msg.rule, message)
        if last:
            return False
        await sleep(wait)
    return False  # unreachable: the loop returns on its last attempt


def _payload(driver: Driver, msg: Message, out: Outbound, extra: dict | None) -> dict:
    request: Any = out.body
    text = None
    try:
        request = driver.mask_json(out.body)
        text = json.dumps(request, default=str)
    except (TypeError, ValueError):
        request = driver.mask(str(out.body))
    if text is not None and len(text) > PAYLOAD_MAX:
        request = {"truncated": text[:PAYLOAD_MAX]}
    payload = {"kind": msg.kind, "type": driver.type, "alerts": len(out.alerts), "request": request}
    if msg.group_key:
        payload["group"] = {"key": msg.group_key, "labels": driver.mask_json(dict(msg.group_labels)),
                            "size": len(msg.notifications)}
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
