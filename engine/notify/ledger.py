"""What became of the notifications in the notifier's hands, kept until the next settle:
attempts for notification_log, outbox rows that are done, rows being retried (their attempt
count and last error), parked rows taken back into flight; and the counts since start.

The notifier's settle takes it all (`take`) and writes it in one transaction
(store/outbox.settle); when the database refuses, it gives it back (`give_back`) in front
of what came meanwhile, so nothing recorded is lost to a blip and the order stays."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence

from ..pipeline.effects import Notification
from ..store.notification_log import NotificationAttempt
from .message import Message

log = logging.getLogger("opsconductor.notify")


@dataclass
class Entries:
    attempts: list[NotificationAttempt] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # outbox ids: out of the outbox
    retried: list[tuple[str, str]] = field(default_factory=list)  # (outbox id, error): attempts + 1
    unparked: list[str] = field(default_factory=list)  # parked rows taken back into flight

    def __bool__(self) -> bool:
        return bool(self.attempts or self.done or self.retried or self.unparked)


class Ledger:
    def __init__(self) -> None:
        self._entries = Entries()
        self.sent = 0
        self.failed = 0
        self.skipped = 0
        self.retried = 0

    # ---- recording ---------------------------------------------------------------------------

    def record(self, attempts: Sequence[NotificationAttempt]) -> None:
        for a in attempts:
            if a.status == "sent":
                self.sent += 1
            elif a.status == "failed":
                self.failed += 1
                # A page that did not reach anyone is an incident of its own: ERROR, with what to look at.
                log.error("notification failed: channel %s, rule %s, alert %s, to %s: %s", a.channel,
                          a.rule_name or "-", a.alert_id or "-", a.recipient, a.error_message or "no reason given")
            elif a.status == "skipped":
                self.skipped += 1
            elif a.status == "retrying":
                self.retried += 1
        self._entries.attempts.extend(attempts)

    def record_all(self, msg: Message, status: str, error: str, recipient: str, only: set[str] | None = None) -> None:
        """One attempt row per notification of the message (`only`: of these alerts)."""
        now = datetime.now(timezone.utc)
        self.record([NotificationAttempt(n.alert.id, msg.channel, recipient[:255], status, msg.rule, error_message=error,
                                         payload={"kind": msg.kind, "title": n.alert.title}, sent_at=now)
                     for n in msg.notifications if only is None or n.alert.id in only])

    def recorder(self, msg: Message) -> Callable[[list[NotificationAttempt]], None]:
        """What delivery records a message's attempts with: a `retrying` one also marks its row."""
        ids: dict[str | None, str] = {n.alert.id: getattr(n, "outbox_id", "") for n in msg.notifications}

        def record(attempts: list[NotificationAttempt]) -> None:
            self.record(attempts)
            for a in attempts:
                if a.status == "retrying" and ids.get(a.alert_id):
                    self._entries.retried.append((ids[a.alert_id], a.error_message or ""))
        return record

    def superseded(self, notifications: Sequence[Notification]) -> None:
        """Logged `skipped` and out of the outbox: the newer notification of the same kind for
        the same alert, in the same group's wait, tells it instead."""
        at = datetime.now(timezone.utc)
        self.record([NotificationAttempt(n.alert.id, n.channel, n.channel, "skipped", n.rule, sent_at=at,
                                         error_message=f"superseded: a newer {n.kind} notification of this alert"
                                                       " in the same group replaced it",
                                         payload={"kind": n.kind, "title": n.alert.title}) for n in notifications])
        self.done(getattr(n, "outbox_id", "") for n in notifications)

    def done(self, outbox_ids: Iterable[str]) -> None:
        self._entries.done.extend(i for i in outbox_ids if i)

    def unparked(self, outbox_id: str) -> None:
        self._entries.unparked.append(outbox_id)

    # ---- settling ----------------------------------------------------------------------------

    def pending(self) -> bool:
        return bool(self._entries)

    def attempts_pending(self) -> int:
        return len(self._entries.attempts)

    def take(self) -> Entries:
        taken, self._entries = self._entries, Entries()
        return taken

    def give_back(self, taken: Entries) -> None:
        """The settle failed: what it took goes back in front of what came meanwhile."""
        now = self._entries
        self._entries = Entries(taken.attempts + now.attempts, taken.done + now.done, taken.retried + now.retried,
                                taken.unparked + now.unparked)
