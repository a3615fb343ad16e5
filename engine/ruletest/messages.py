"""What channels receive: the notifier's own Grouper (notify/grouping.py) on the simulated
clock turns notifications into messages, one per alert or one per group (group_by,
group_wait, group_interval), so a test can expect what a channel actually gets."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from ..notify.grouping import Grouper
from ..notify.message import Message, alert_view
from ..pipeline.effects import Notification
from ..rules.fields import alert_fields


@dataclass(frozen=True)
class Sent:
    at: datetime
    message: Message

    def describe(self) -> str:
        m = self.message
        group = f", group {m.group}" if m.group_key else ""
        return f"message: {m.kind} via {m.channel} by {m.rule}: {len(m.notifications)} alert(s){group}"


class Messages:
    def __init__(self, start: datetime, site: Callable[[str | None], str | None]):
        self._start = start
        self._site = site
        self._grouper = Grouper()
        self.sent: list[Sent] = []

    def _clock(self, at: datetime) -> float:
        return (at - self._start).total_seconds()

    def add(self, n: Notification) -> Sent | None:
        site = self._site(n.alert.device_ip)
        labels = alert_fields(n.alert, site) if n.action and n.action.group_by else {}
        message = self._grouper.add(n, alert_view(n.alert, site, None), labels, self._clock(n.at))
        return self._keep(n.at, message) if message is not None else None

    def due(self, at: datetime) -> list[Sent]:
        return [self._keep(at, m) for m in self._grouper.due(self._clock(at))]

    def next_due(self) -> datetime | None:
        due = self._grouper.next_due()
        return self._start + timedelta(seconds=due) if due is not None else None

    def pending(self) -> int:
        return self._grouper.pending()

    def _keep(self, at: datetime, message: Message) -> Sent:
        sent = Sent(at, message)
        self.sent.append(sent)
        return sent
