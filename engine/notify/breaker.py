"""Which channels are down: a circuit breaker per channel, on the notifier's clock.

A channel goes **down** when a message to it spends its quick retries on a transient error.
While it is down, messages to it are not attempted: they are parked at once until its next
probe (each would otherwise spend the whole quick-retry cycle, seconds of a delivery slot,
to learn what the first one learnt). When the back-off ends, **one** message probes (a single
attempt); an answer of any kind (delivered, or refused for good with a 4xx: the receiver is
there) brings the channel up, and the parked messages are due at once. A probe that fails
again doubles the wait, up to the policy's cap. Messages that were already in their quick
retries when the channel went down do not push the next probe further.

A 429's Retry-After is not an outage: delivery.ChannelGates holds that channel for the time
asked, as before; a 429 that lasts through the quick retries parks like any transient error.

Pure: the notifier passes the time.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterable

from .parking import ParkPolicy

log = logging.getLogger("opsconductor.notify")


@dataclass
class Outage:
    since: float  # clock time the channel went down
    error: str  # the last transient error (masked)
    failures: int = 1  # the failure that took it down and every failed probe since
    probe_at: float = 0.0  # clock time of the next probe; inf while a probe is out


class Breakers:
    def __init__(self, policy: ParkPolicy) -> None:
        self._policy = policy
        self._down: dict[str, Outage] = {}
        self.outages = 0  # channels that went down since start (a counter for /metrics)

    def outage(self, channel: str) -> Outage | None:
        return self._down.get(channel)

    def failed(self, channel: str, now: float, error: str, probe: bool) -> Outage:
        """A message's quick retries (or the probe) were spent on a transient error."""
        outage = self._down.get(channel)
        if outage is None:
            outage = self._down[channel] = Outage(now, error)
            outage.probe_at = now + self._policy.probe_delay(1)
            self.outages += 1
            log.warning("notification channel %s is down (%s); its notifications wait in the outbox, next probe in"
                        " %gs", channel, error, outage.probe_at - now)
        elif probe:
            outage.failures += 1
            outage.error = error
            outage.probe_at = now + self._policy.probe_delay(outage.failures)
            log.warning("notification channel %s is still down (%s); next probe in %gs", channel, error,
                        outage.probe_at - now)
        else:
            outage.error = error
        return outage

    def answered(self, channel: str, now: float) -> bool:
        """The receiver answered: the channel is up. True when it was down."""
        outage = self._down.pop(channel, None)
        if outage is not None:
            log.warning("notification channel %s is up again after %.0fs down; its parked notifications are due",
                        channel, now - outage.since)
        return outage is not None

    def take_probe(self, channel: str, now: float) -> bool:
        """This message probes the down channel when its back-off has ended and no probe is out."""
        outage = self._down.get(channel)
        if outage is None or now < outage.probe_at:
            return False
        outage.probe_at = math.inf
        return True

    def probe_due(self, channel: str, now: float) -> bool:
        outage = self._down.get(channel)
        return outage is not None and now >= outage.probe_at

    def probe_ended(self, channel: str, now: float) -> None:
        """The probe ended without an answer or a transient failure (stopped, a bug): another may go."""
        outage = self._down.get(channel)
        if outage is not None and outage.probe_at == math.inf:
            outage.probe_at = now

    def keep(self, channels: Iterable[str]) -> None:
        """Forget the outages of channels not among these (gone from the config)."""
        for channel in set(self._down) - set(channels):
            del self._down[channel]

    def down(self) -> list[str]:
        return list(self._down)

    def state(self, now: float) -> dict[str, dict]:
        """Per channel down: seconds down, failed probes, seconds to the next probe (None while one is out), error."""
        return {c: {"down_seconds": round(now - o.since, 3), "failed_probes": o.failures - 1,
                    "next_probe_seconds": None if o.probe_at == math.inf else round(max(0.0, o.probe_at - now), 3),
                    "error": o.error}
                for c, o in sorted(self._down.items())}
