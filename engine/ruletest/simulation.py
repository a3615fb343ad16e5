"""One rule test's run: the real pipeline in simulated time, and a record of what it did.

Time only moves forward, from step to step. Between two steps the engine is woken exactly
when something is due (a repeat_interval, a child's re-evaluation, a silence's start or
end), as the serving worker's once-a-second tick would, then once more at the step's time.
A `restart` drops every in-memory structure and rebuilds it the way `opsc serve` does at
start (ActiveAlerts.rebuild + restore_told), from what the store would hold: every alert's
latest version and the notification log.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from ..config.bundle import Bundle, RuleTest
from ..config.durations import parse_duration
from ..model import RawEvent, Status, StoredAlert
from ..pipeline.commands import OperatorCommand, Verb
from ..pipeline.effects import TELLS, Effects, Notification
from ..pipeline.pipeline import Pipeline
from ..pipeline.state import ActiveAlerts
from .messages import Messages, Sent
from .selectors import describe_alert, matches
from .silences import Silences

# Simulated time starts on a Monday morning, so time-window rules behave predictably.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
MAX_WAKEUPS = 10_000  # per gap between two steps: a runaway schedule cannot hang `opsc test`


class StepError(Exception):
    """A step that cannot run as written (it names the step); the test fails with it."""


def offset(at: datetime) -> str:
    """Simulated time as the tests write it: +0s, +90s → +1m30s, +1h5m."""
    total = int((at - T0).total_seconds())
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")
    return "+" + text


def when(text: Any) -> datetime:
    return T0 + timedelta(seconds=parse_duration(str(text)))


@dataclass
class Record:
    """What a test run produced: alerts (id → latest version, creation order), notifications
    in order, the notification log as stored, and a timeline for `opsc test -v`."""

    alerts: dict[str, StoredAlert] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    told: dict[tuple[str, str, str], datetime] = field(default_factory=dict)  # (alert id, rule, channel) → last
    timeline: list[str] = field(default_factory=list)
    messages: Messages | None = None  # what the channels get, through the notifier's grouping

    def note(self, at: datetime, text: str) -> None:
        self.timeline.append(f"{offset(at):>9}  {text}")

    def sent(self, sent: list["Sent"]) -> None:
        for s in sent:
            if s.message.group_key:  # an ungrouped message is its notification, already noted
                self.note(s.at, s.describe())

    def add(self, fx: Effects, at: datetime) -> None:
        for alert in fx.created:
            self.note(at, f"alert created: {describe_alert(alert)}")
        for change in fx.changes:
            if change.command is None:  # an operator's is noted when it is given
                self.note(at, f"alert {getattr(change.action, 'value', change.action)}: {describe_alert(change.alert)}")
        for alert in (*fx.created, *fx.occurrences, *(c.alert for c in fx.changes)):
            self.alerts[alert.id] = alert
        for n in fx.notifications:
            self.notifications.append(n)
            self.told[(n.alert.id, n.rule, n.channel)] = n.at
            self.note(n.at, f"notified: {describe_notification(n)}")
            if self.messages is not None:
                self.sent([m for m in (self.messages.add(n),) if m is not None])


def describe_notification(n: Notification) -> str:
    device = n.alert.device_ip or n.alert.device_name
    return f"{n.kind} {n.alert.alert_type}@{device} via {n.channel} by {n.rule}"


class Simulation:
    def __init__(self, pipeline: Pipeline, bundle: Bundle, test: RuleTest,
                 pollers: Callable[["Simulation"], Any] | None = None):
        self.pipeline = pipeline
        self.bundle = bundle
        self.test = test
        self.now = T0
        self.messages = Messages(T0, pipeline.view.site)
        self.record = Record(messages=self.messages)
        self.silences = Silences()
        self._events = itertools.count(1)
        self.pollers = pollers(self) if pollers else None
        pipeline.with_state(ActiveAlerts())

    # ---- time ------------------------------------------------------------------------------

    def advance(self, to: datetime) -> None:
        if to < self.now:
            raise StepError(f"`at` goes back in time ({offset(to)} is before {offset(self.now)})")
        for _ in range(MAX_WAKEUPS):
            due = self._next_due()
            if due is None or due >= to:
                break
            self._tick(due)
        else:
            raise StepError(f"more than {MAX_WAKEUPS} wake-ups before {offset(to)}")
        self._tick(to)

    def _tick(self, at: datetime) -> None:
        self.now = at
        self.record.add(self.pipeline.tick(at), at)
        self.record.sent(self.messages.due(at))

    def _next_due(self) -> datetime | None:
        state, now = self.pipeline.state, self.now
        times = [d for d, *_ in state.repeat_due if d > now]
        times += [d for d in state.reevaluate.values() if d > now]
        times += [d for d in self.pipeline.wakeups() if d > now]  # held notifications (throttles)
        group = self.messages.next_due()
        times += [group] if group is not None and group > now else []
        for s in (*self.pipeline.view.bundle.silences, *state.adhoc_silences):
            times += [t for t in (_time(s.starts_at), _time(s.ends_at)) if t is not None and t > now]
            if s.schedule is not None and state.held:  # a recurring window: look once a minute
                times.append(now.replace(second=0, microsecond=0) + timedelta(minutes=1))
        return min(times, default=None)

    # ---- inputs ----------------------------------------------------------------------------

    def event_id(self) -> str:
        return f"{self.test.name}#{next(self._events)}"

    def process(self, events: list[RawEvent]) -> None:
        for event in events:
            fx = self.pipeline.process(event, self.now)
            if fx.dropped:
                self.record.note(self.now, f"event from {event.connector} dropped by its connector's settings")
            self.record.add(fx, self.now)

    def operator(self, action: str, spec: Mapping[str, Any]) -> None:
        """acknowledge / resolve, as the API does: a command the pipeline applies
        (Pipeline.command)."""
        selector = spec.get("alert") or {}
        found = [a for a in self.pipeline.state.by_id.values() if matches(a, selector)]
        if len(found) != 1:
            raise StepError(f"{action}: {len(found)} open alerts match {dict(selector)} "
                            f"(open: {', '.join(describe_alert(a) for a in self.pipeline.state.by_id.values()) or 'none'})")
        who = f" by {spec['actor']}" if spec.get("actor") else ""
        note = f" ({spec['note']})" if spec.get("note") else ""
        self.record.note(self.now, f"operator {action}s{who}{note}: {describe_alert(found[0])}")
        command = OperatorCommand(found[0].id, Verb(action), None, spec.get("actor"), spec.get("note"))
        self.record.add(self.pipeline.command(command, self.now), self.now)

    def start_silence(self, spec: Mapping[str, Any]) -> None:
        """An operator's silence: a command the pipeline applies (Pipeline.command), as the API's."""
        try:
            stored, fx = self.silences.create(self.pipeline, spec, self.now)
        except ValueError as exc:  # what the API answers with 400
            raise StepError(f"silence {spec['name']}: {exc}") from None
        self.record.add(fx, self.now)
        self.record.note(self.now, f"silence {spec['name']} ({stored.name}) created until {offset(stored.ends_at)}")

    def end_silence(self, name: str) -> None:
        if name not in self.silences.ids:
            raise StepError(f"end_silence: no silence {name!r} was created by this test")
        ended, fx = self.silences.end(self.pipeline, name, self.now)
        self.record.add(fx, self.now)
        self.record.note(self.now, f"silence {name} ended" if ended else f"silence {name} had already ended")
        self._tick(self.now)  # the serving worker's next tick (within a second) releases what it held

    def restart(self) -> None:
        """What `opsc serve` does at start, from what it would find stored."""
        state = ActiveAlerts()
        state.rebuild(self.record.alerts.values())
        state.restore_told([(*key, at) for key, at in self.record.told.items()], self.pipeline.rules.notify_action)
        last: dict[tuple[str, str], datetime] = {}  # what store.notification_log.load_throttles reads
        for n in self.record.notifications:
            if n.kind in TELLS and self.record.alerts[n.alert.id].status is Status.RESOLVED:
                last[(n.rule, n.alert.fingerprint)] = n.at
        state.restore_throttles([(rule, fp, at) for (rule, fp), at in last.items()], self.pipeline.rules.notify_action)
        self.pipeline.with_state(state)
        self.silences.restore(state, self.now)  # serve reads the database's silences at start
        self.pipeline.restore_correlation(self.now)
        self.pipeline.restore_held(self.now)
        if self.pollers is not None:
            self.pollers.restart()
        self.record.note(self.now, f"restart: {len(state.by_id)} open alert(s) rebuilt from the store")
        self._tick(self.now)  # the serving engine's first tick, within a second of the start


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

