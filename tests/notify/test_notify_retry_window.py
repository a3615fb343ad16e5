"""A transient failure is retried for the policy's `retry_for` after the channel's `retries`
are spent (the serving notifier: 10 minutes), on a simulated clock: a receiver down for a
few minutes does not cost the page; a refusal (4xx) is still final at once."""
from __future__ import annotations

import asyncio
from types import MappingProxyType

from opsconductor.engine.config.bundle import Channel, Source
from opsconductor.engine.notify.channels.base import DeliveryError, Driver, Outbound
from opsconductor.engine.notify.delivery import RETRY_FOR, RetryPolicy, deliver
from opsconductor.engine.notify.message import Message

from notify_helpers import SleepingClock
from opsconductor.engine.notify.notifier import Notifier


class _Down(Driver):
    """Fails `down_for` simulated seconds (connection refused, or the given error), then accepts."""

    type = "webhook"

    def __init__(self, clock: SleepingClock, down_for: float, error: DeliveryError | None = None) -> None:
        super().__init__(Channel("ch", "webhook", MappingProxyType({"retries": 3}), Source("rules/r.yaml", 1, 1, "$")),
                         client=None)  # type: ignore[arg-type]  # send() below never uses it
        self.clock, self.down_for, self.requests = clock, down_for, []
        self.error = error or DeliveryError("connection refused", retry=True)

    async def send(self, out: Outbound) -> str:
        self.requests.append(self.clock())
        if self.clock() < self.down_for:
            raise self.error
        return "HTTP 200"


POLICY = RetryPolicy(backoff_base=1.0, backoff_max=60.0, retry_after_max=120.0, retry_for=RETRY_FOR)
MESSAGE = Message(rule="page", channel="ch", kind="firing", notifications=(), views=())


def run(driver: _Down, policy: RetryPolicy, clock: SleepingClock) -> bool:
    return asyncio.run(deliver(driver, MESSAGE, Outbound(alerts=(), body={"text": "x"}), policy, lambda rows: None,
                               sleep=clock.sleep, clock=clock))


def test_a_receiver_down_for_five_minutes_still_gets_the_page():
    clock = SleepingClock()
    driver = _Down(clock, down_for=300.0)
    sent = run(driver, POLICY, clock)
    assert sent and len(driver.requests) > 4  # beyond the channel's 3 retries
    assert driver.requests[-1] >= 300.0  # the attempt after the receiver came back
    assert max(b - a for a, b in zip(driver.requests, driver.requests[1:])) <= 60.0  # backoff capped


def test_a_receiver_down_longer_than_the_window_fails_the_page_after_it():
    clock = SleepingClock()
    driver = _Down(clock, down_for=10_000.0)
    sent = run(driver, POLICY, clock)
    assert not sent
    assert driver.requests[-2] < RETRY_FOR <= driver.requests[-1]  # its last attempt: the first after the window


def test_without_a_window_the_channel_retries_alone_decide():
    clock = SleepingClock()
    driver = _Down(clock, down_for=300.0)
    sent = run(driver, RetryPolicy(), clock)
    assert not sent and len(driver.requests) == 4


def test_a_refusal_is_final_at_once_even_within_the_window():
    clock = SleepingClock()
    driver = _Down(clock, down_for=300.0, error=DeliveryError("HTTP 400", retry=False, status=400))
    sent = run(driver, POLICY, clock)
    assert not sent and len(driver.requests) == 1


def test_the_serving_notifier_retries_for_ten_minutes():
    notifier = Notifier(lambda: None, lambda: None)  # type: ignore[arg-type,return-value]  # never started
    assert notifier._policy.retry_for == RETRY_FOR == 600.0
