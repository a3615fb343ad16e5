"""A Retry-After holds the channel for the time the receiver asked, on a simulated clock
(the channel contract checks the same against real sinks, without timing it)."""
from __future__ import annotations

import asyncio
from types import MappingProxyType

from opsconductor.engine.config.bundle import Channel, Source
from opsconductor.engine.notify.channels.base import DeliveryError, Driver, Outbound
from opsconductor.engine.notify.delivery import ChannelGates, RetryPolicy, deliver
from opsconductor.engine.notify.message import Message

from notify_helpers import SleepingClock


class _RateLimited(Driver):
    """Answers 429 with Retry-After: 30 once, then accepts; remembers when each request came."""

    type = "webhook"

    def __init__(self, clock: SleepingClock) -> None:
        super().__init__(Channel("ch", "webhook", MappingProxyType({"retries": 2}), Source("rules/r.yaml", 1, 1, "$")),
                         client=None)  # type: ignore[arg-type]  # send() below never uses it
        self.clock, self.requests = clock, []

    async def send(self, out: Outbound) -> str:
        self.requests.append(self.clock())
        if len(self.requests) == 1:
            raise DeliveryError("HTTP 429", retry=True, retry_after=30.0, status=429)
        return "HTTP 200"


def test_retry_after_holds_the_channel_for_the_time_asked() -> None:
    clock = SleepingClock()
    driver = _RateLimited(clock)
    gates = ChannelGates(clock=clock)
    message = Message(rule="page", channel="ch", kind="firing", notifications=(), views=())
    rows: list = []
    policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2, retry_after_max=60.0)
    result = asyncio.run(deliver(driver, message, Outbound(alerts=(), body={"text": "x"}), policy, rows.extend,
                                 sleep=clock.sleep, gates=gates))
    assert result.sent and driver.requests == [0.0, 30.0]  # not the 0.05 s backoff
    assert gates.held() == {}  # released once it was waited out


def test_retry_after_is_bounded_by_the_policy() -> None:
    clock = SleepingClock()
    driver = _RateLimited(clock)
    policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2, retry_after_max=5.0)
    message = Message(rule="page", channel="ch", kind="firing", notifications=(), views=())
    assert asyncio.run(deliver(driver, message, Outbound(alerts=(), body={"text": "x"}), policy, lambda rows: None,
                               sleep=clock.sleep, gates=ChannelGates(clock=clock))).sent
    assert driver.requests == [0.0, 5.0]
