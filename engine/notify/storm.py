"""The storm guard: per channel, more than N messages within M seconds switch the channel
to digests, one message per group (rule, group, kind) every M seconds with how many
alerts it stands for and a link to them, until the rate drops. Stated in the message
(title and body say "storm guard", webhooks get a `storm` object) and exposed on
/api/v1/system and /metrics; never silent: every alert of a digest is in it and logged.

Config per channel: `storm_guard: {messages: N, within: 1m}` or `storm_guard: false`.
Chat and email channels (read by people) default to 20 messages a minute; webhooks and
PagerDuty (read by machines, deduplicated by the receiver) have no guard unless set.

Pure: the notifier passes the time; no threads, no I/O.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..config.durations import parse_duration
from .message import Message

if TYPE_CHECKING:
    from ..pipeline.effects import Notification

DEFAULTS: dict[str, tuple[int, float]] = {"slack": (20, 60.0), "teams": (20, 60.0), "email": (20, 60.0)}


@dataclass(frozen=True)
class StormLimit:
    messages: int
    within: float


def storm_limit(channel_type: str, settings: Mapping[str, Any]) -> StormLimit | None:
    value = settings.get("storm_guard")
    if value is False:
        return None
    if isinstance(value, Mapping):
        return StormLimit(int(value["messages"]), parse_duration(value.get("within", "1m")))
    default = DEFAULTS.get(channel_type)
    return StormLimit(*default) if default else None


@dataclass
class _Channel:
    limit: StormLimit
    offered: deque = field(default_factory=deque)  # times messages were offered, within the window
    storming_since: float | None = None
    buckets: dict[tuple, list[Message]] = field(default_factory=dict)
    next_digest: float = 0.0
    digests: int = 0  # digests sent during this storm
    held: int = 0  # messages folded into digests during this storm


class StormGuard:
    def __init__(self, dashboard_url: str | None = None) -> None:
        self._channels: dict[str, _Channel] = {}
        self._dashboard_url = dashboard_url
        self.storms = 0  # storms started since start (a counter for /metrics)

    def admit(self, msg: Message, limit: StormLimit | None, now: float) -> Message | None:
        """The message to send now, or None when the channel is in a storm and the message
        waits for its group's digest."""
        if limit is None:
            self._channels.pop(msg.channel, None)
            return msg
        ch = self._channels.get(msg.channel)
        if ch is None or ch.limit != limit:
            ch = self._channels[msg.channel] = _Channel(limit)
        _trim(ch, now)
        ch.offered.append(now)
        if ch.storming_since is None and len(ch.offered) > limit.messages:
            ch.storming_since, ch.next_digest, ch.digests, ch.held = now, now + limit.within, 0, 0
            self.storms += 1
        if ch.storming_since is None:
            return msg
        ch.buckets.setdefault((msg.rule, msg.group_key, msg.kind), []).append(msg)
        ch.held += 1
        return None

    def due(self, now: float, everything: bool = False) -> list[Message]:
        """Digests whose window has passed; a channel whose rate dropped leaves the storm."""
        out: list[Message] = []
        for ch in list(self._channels.values()):
            if ch.storming_since is None or (now < ch.next_digest and not everything):
                continue
            for msgs in ch.buckets.values():
                out.append(self._digest(msgs, ch, now))
                ch.digests += 1
            ch.buckets = {}
            ch.next_digest = now + ch.limit.within
            _trim(ch, now)
            if len(ch.offered) <= ch.limit.messages or everything:
                ch.storming_since = None
        return out

    def next_due(self) -> float | None:
        dues = [ch.next_digest for ch in self._channels.values() if ch.storming_since is not None]
        return min(dues) if dues else None

    def pending(self) -> int:
        return sum(len(m.notifications) for ch in self._channels.values() for ms in ch.buckets.values() for m in ms)

    def state(self, now: float) -> dict[str, dict]:
        """Per guarded channel: whether it is in a storm, since when (seconds ago), what it holds."""
        out = {}
        for name, ch in self._channels.items():
            _trim(ch, now)
            out[name] = {"storm": ch.storming_since is not None, "messages": ch.limit.messages,
                         "within_seconds": ch.limit.within, "recent_messages": len(ch.offered),
                         "storm_seconds": round(now - ch.storming_since, 1) if ch.storming_since is not None else None,
                         "held_messages": sum(len(ms) for ms in ch.buckets.values()), "digests_sent": ch.digests}
        return out

    def _digest(self, msgs: list[Message], ch: _Channel, now: float) -> Message:
        """One message for every alert of a group the storm held (the latest per alert)."""
        first = msgs[0]
        latest: dict[str, int] = {}
        notifications: list[Notification] = []
        views: list[dict[str, Any]] = []
        for m in msgs:
            for n, v in zip(m.notifications, m.views):
                if n.alert.fingerprint in latest:
                    i = latest[n.alert.fingerprint]
                    notifications[i], views[i] = n, v
                else:
                    latest[n.alert.fingerprint] = len(notifications)
                    notifications.append(n)
                    views.append(v)
        link = f"{self._dashboard_url.rstrip('/')}/alerts?status=active" if self._dashboard_url else None
        storm = {"digest": True, "alerts": len(notifications), "messages": len(msgs),
                 "window_seconds": ch.limit.within, "limit": ch.limit.messages,
                 "storm_seconds": round(now - (ch.storming_since or now), 1), "link": link}
        return Message(first.rule, first.channel, first.kind, tuple(notifications), tuple(views),
                       group_key=first.group_key, group_labels=first.group_labels,
                       dashboard_url=first.dashboard_url, storm=storm)


def _trim(ch: _Channel, now: float) -> None:
    while ch.offered and ch.offered[0] <= now - ch.limit.within:
        ch.offered.popleft()
