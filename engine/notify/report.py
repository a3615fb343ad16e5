"""What the notifier's status says to an operator: /metrics families and /healthz reasons.

The status is Notifier.status() (or the notifier process's copy of it): the outbox's depth,
age and parked rows, what is in flight, storms, rate-limited channels and channels down. A
channel that is down makes the engine `degraded` on /healthz, with the reason: notifications
wait in the outbox meanwhile, and nobody should learn that from a missing page.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..config.durations import format_duration
from ..metrics import Exposition


def expose(out: Exposition, status: Mapping[str, Any]) -> None:
    out.metric("opsc_notifications_total", "counter", "Notification attempts by outcome",
               [({"status": s}, status.get(s, 0)) for s in ("sent", "failed", "skipped", "dropped", "retried")])
    out.metric("opsc_notification_outbox_depth", "gauge", "Notifications decided and not yet delivered",
               [({}, status["outbox_depth"])])
    out.metric("opsc_notification_outbox_oldest_seconds", "gauge", "Age of the oldest notification in the outbox",
               [({}, status["outbox_oldest_seconds"])])
    out.metric("opsc_notification_parked", "gauge", "Notifications waiting in the outbox for their next attempt"
               " (a receiver failed or its channel is down)", [({}, status.get("parked", 0))])
    out.metric("opsc_notification_in_flight", "gauge", "Notifications read from the outbox, not yet settled",
               [({}, status["in_flight"])])
    out.metric("opsc_notification_storm", "gauge", "1 while a channel's storm guard sends digests",
               [({"channel": c}, 1 if s["storm"] else 0) for c, s in sorted(status["storm_guard"].items())])
    out.metric("opsc_notification_storms_total", "counter", "Storms the guard switched a channel to digests for",
               [({}, status["storms_started"])])
    out.metric("opsc_notification_rate_limited", "gauge", "1 while a channel waits out a receiver's Retry-After",
               [({"channel": c}, 1) for c in sorted(status["rate_limited"])])
    out.metric("opsc_notification_channel_down", "gauge", "1 while a channel is down: its notifications are parked"
               " until a probe gets through", [({"channel": c}, 1) for c in sorted(status.get("channels_down", {}))])
    out.metric("opsc_notification_channel_outages_total", "counter", "Times a channel went down",
               [({}, status.get("channel_outages", 0))])


def reasons(status: Mapping[str, Any]) -> list[str]:
    """Why notifications make the engine degraded: channels down."""
    out = []
    for channel, down in sorted(status.get("channels_down", {}).items()):
        probe = down.get("next_probe_seconds")
        out.append(f"notification channel {channel} is down for {format_duration(round(down['down_seconds']))}"
                   f" ({down['error']}); {status.get('parked', 0)} notification(s) parked in the outbox, next probe "
                   + ("under way" if probe is None else f"in {format_duration(round(probe))}"))
    return out
