"""When a notification that could not be delivered is tried again, and when it is given up.

A message whose quick retries (the channel's `retries`, seconds apart: delivery.py) are spent
on a transient error (a timeout, a refused connection, HTTP 5xx or 429, SMTP 4xx) is
**parked**: its outbox rows get a next-attempt time (migration 018) and leave the notifier's
in-flight set, so a dead receiver holds no memory and no reading of other channels. A row
waits as long as it has waited so far, at least `first` and at most `cap`: 30 s, 1 min, 2 min,
4 min, then every 5 min; never before its channel's next probe (breaker.py).

A row is failed for good once a transient failure meets it more than its channel's
`retry_for` (default 1 h) after it was written to the outbox: an NOC would rather see a page
marked failed (ERROR in the log, `failed` on the dashboard, the throttle released) than get
it hours late. `retry_for: 0s` turns parking off for the channel: a message fails when its
quick retries are spent, and the channel is never held as down.

Pure: the notifier passes the times.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from ..config.durations import parse_duration

RETRY_FOR = 3600.0  # seconds: a channel's retry window unless it sets `retry_for`
CHANNEL_QUOTA = 1_000  # unsettled rows per channel in the notifier's hands (of max_in_flight)


@dataclass(frozen=True)
class ParkPolicy:
    first: float = 30.0  # seconds: the first wait after the quick retries
    cap: float = 300.0  # the longest wait between attempts (and between probes of a down channel)

    def probe_delay(self, failures: int) -> float:
        """Seconds from a channel's `failures`-th failure in a row (1: it just went down) to its next probe."""
        return min(self.cap, self.first * 2 ** max(0, failures - 1))

    def row_delay(self, waited: float) -> float:
        """Seconds a row that failed again waits, after `waited` seconds in the outbox."""
        return min(self.cap, max(self.first, waited))


def retry_window(settings: Mapping[str, Any]) -> float:
    """A channel's `retry_for` in seconds (0: no parking)."""
    value = settings.get("retry_for")
    return RETRY_FOR if value is None else parse_duration(value)


def expired(created_at: datetime | None, now: datetime, window: float) -> bool:
    """The row's retry window is over at `now` (a row without a time has just been written)."""
    return created_at is not None and (now - created_at).total_seconds() >= window

