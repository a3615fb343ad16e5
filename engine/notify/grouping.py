"""Alertmanager-style grouping of notifications into messages, on an injected clock.

A group is (rule, channel, values of the rule's group_by fields). The first notification of
a new group waits `group_wait` so its siblings can join; the group then sends one message
listing every alert that joined. A group never sends more often than once per
`group_interval`: later additions wait until `group_interval` after the last message (and at
least `group_wait`). Firing and resolved notifications share the group; a flush sends the
firing message first, then the resolved one. A rule without `group_by` and with
`group_wait: 0` does not group: every notification is its own message, sent at once.

Notifications tried again after they were parked (parking.py) are grouped the same way but
go out at once (`regroup`): they waited already.

Pure: no threads, no I/O. `add` files notifications, `due(now)` takes out what is ready.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..pipeline.effects import KINDS, Notification, NotificationKind
from .message import Message

GroupKey = tuple[str, str, tuple]


@dataclass
class _Group:
    key: GroupKey
    labels: dict[str, Any]
    wait: float
    interval: float
    # (kind, fp, 0) → the latest; regroup() keeps every one: (kind, fp, i)
    pending: dict[tuple[NotificationKind, str, int], tuple[Notification, dict]] = field(default_factory=dict)
    due: float | None = None
    last_sent: float | None = None


def groups_notifications(n: Notification) -> bool:
    a = n.action
    return a is not None and (bool(a.group_by) or a.group_wait > 0)


def group_key_text(key: GroupKey) -> str:
    """A stable, printable id of a group (logged with every attempt, sent to webhooks)."""
    rule, channel, values = key
    return hashlib.sha256(repr((rule, channel, values)).encode()).hexdigest()[:16]


class Grouper:
    def __init__(self, dashboard_url: str | None = None) -> None:
        self._groups: dict[GroupKey, _Group] = {}
        self._dashboard_url = dashboard_url
        self._superseded: list[Notification] = []

    def add(self, n: Notification, view: dict, labels: Mapping[str, Any], now: float) -> Message | None:
        """File one notification; returns a message at once when its rule does not group."""
        if not groups_notifications(n):
            return Message(n.rule, n.channel, n.kind, (n,), (view,), dashboard_url=self._dashboard_url)
        key = _key(n, labels)
        g = self._groups.get(key)
        if g is None:
            g = self._groups[key] = _new_group(key, n, labels)
        if not g.pending:
            due = now + g.wait
            if g.last_sent is not None:
                due = max(due, g.last_sent + g.interval)
            g.due = due
        older = g.pending.get((n.kind, n.alert.fingerprint, 0))
        if older is not None:  # the same news of the same alert twice in one wait: the newer one goes
            self._superseded.append(older[0])
        g.pending[(n.kind, n.alert.fingerprint, 0)] = (n, view)
        return None

    def superseded(self) -> list[Notification]:
        """Notifications a newer one replaced since the last call: they will not be sent, and
        whoever took them settles them (an outbox row must not wait in flight for ever)."""
        out, self._superseded = self._superseded, []
        return out

    def due(self, now: float, everything: bool = False) -> list[Message]:
        """Messages of every group whose time has come (all pending ones when `everything`)."""
        out: list[Message] = []
        for key, g in list(self._groups.items()):
            if g.pending and (everything or (g.due is not None and g.due <= now)):
                out.extend(self._messages(g))
                g.pending.clear()
                g.due = None
                g.last_sent = now
            elif not g.pending and (g.last_sent is None or now >= g.last_sent + g.interval):
                del self._groups[key]  # idle for a whole interval: a new alert starts a new group
        return out

    def regroup(self, items: Sequence[tuple[Notification, dict, Mapping[str, Any]]]) -> list[Message]:
        """Messages at once for notifications tried again: (notification, view, labels) grouped
        as their rules group, every one of them kept (none replaces another)."""
        out: list[Message] = []
        groups: dict[GroupKey, _Group] = {}
        for i, (n, view, labels) in enumerate(items):
            if not groups_notifications(n):
                out.append(Message(n.rule, n.channel, n.kind, (n,), (view,), dashboard_url=self._dashboard_url))
                continue
            key = _key(n, labels)
            g = groups.get(key) or groups.setdefault(key, _new_group(key, n, labels))
            g.pending[(n.kind, n.alert.fingerprint, i)] = (n, view)
        for g in groups.values():
            out.extend(self._messages(g))
        return out

    def next_due(self) -> float | None:
        dues = [g.due for g in self._groups.values() if g.pending and g.due is not None]
        return min(dues) if dues else None

    def pending(self) -> int:
        return sum(len(g.pending) for g in self._groups.values())

    def _messages(self, g: _Group) -> list[Message]:
        out = []
        for kind in KINDS:
            items = [v for k, v in g.pending.items() if k[0] == kind]
            if items:
                out.append(Message(g.key[0], g.key[1], kind, tuple(n for n, _ in items), tuple(v for _, v in items),
                                   group_key=group_key_text(g.key), group_labels=dict(g.labels),
                                   dashboard_url=self._dashboard_url))
        return out


def _key(n: Notification, labels: Mapping[str, Any]) -> GroupKey:
    action = n.action
    assert action is not None  # groups_notifications: it has one
    return (n.rule, n.channel, tuple(labels.get(f) for f in action.group_by))


def _new_group(key: GroupKey, n: Notification, labels: Mapping[str, Any]) -> _Group:
    action = n.action
    assert action is not None  # groups_notifications: it has one
    return _Group(key, {f: labels.get(f) for f in action.group_by}, action.group_wait, action.group_interval)
