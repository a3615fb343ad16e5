"""One tree over one history, in simulated time, through the real pipeline (the same
Pipeline `opsc serve` and `opsc test` run): raw events at their receipt times, operators'
acknowledges and resolves at theirs, and the tick in between.

What it decided is recorded per alert as a short trail of plain lines (times relative to
the span's start, roots named by their identity, never by a run's ids), so two runs can be
compared alert by alert. An alert's trail goes to an SQLite file on disk when the alert
closes: memory holds only open alerts, however long the span.
"""
from __future__ import annotations

import itertools
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ..config.bundle import Bundle
from ..connectors.registry import NORMALIZERS
from ..events import Decision, Enriched, Silenced, Throttled, describe_history
from ..model import Alert, HistoryAction, RawEvent, Status, StoredAlert
from ..pipeline.commands import OperatorCommand, Verb
from ..pipeline.effects import Effects
from ..pipeline.pipeline import Pipeline
from ..rules.host import RulesHost
from ..store.history import OperatorAction

log = logging.getLogger("opsconductor.replay")

# Between two events the clock still moves: ticks this far apart carry settle times,
# repeat intervals, throttles and silence ends (all whole minutes or more in practice).
TICK = timedelta(seconds=15)
SECOND = timedelta(seconds=1)
SETTLE_AFTER = timedelta(minutes=10)  # ticks after the last event, so pending settles finish

HistoryItem = RawEvent | OperatorAction


def at_of(item: HistoryItem) -> datetime:
    return item.received_at if isinstance(item, RawEvent) else item.at


@dataclass
class Summary:
    """Counts of one run; every key is a plain string so it travels as JSON."""

    events: int = 0
    failed_events: int = 0
    operator_actions: int = 0
    counts: Counter = field(default_factory=Counter)  # "created", "suppressed", "resolved", …
    by_type: Counter = field(default_factory=Counter)  # "created:link_down", …
    by_rule: Counter = field(default_factory=Counter)  # "enrich:rule", "suppress:rule", "notify:rule", …
    suppressed_under: Counter = field(default_factory=Counter)  # root identity → children suppressed
    notifications: Counter = field(default_factory=Counter)  # "channel kind" → count

    def as_dict(self) -> dict:
        return {"events": self.events, "failed_events": self.failed_events, "operator_actions": self.operator_actions,
                "counts": dict(self.counts), "by_type": dict(self.by_type), "by_rule": dict(self.by_rule),
                "suppressed_under": dict(self.suppressed_under), "notifications": dict(self.notifications)}


class _Trails:
    """Open alerts' trails in memory; closed ones in SQLite."""

    def __init__(self, path: Path, start: datetime):
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE trails (key TEXT PRIMARY KEY, title TEXT, pages INTEGER, trail TEXT)")
        self.start = start
        self.open: dict[str, list[str]] = {}  # alert id → trail lines
        self.key: dict[str, str] = {}  # alert id → identity (fingerprint@made), open alerts and their roots
        self.title: dict[str, str] = {}
        self.pages: Counter = Counter()
        self.pending: list[tuple] = []

    def new(self, alert: StoredAlert) -> None:
        # The same raw event makes the alert in both runs, so its fingerprint and the time it
        # was made identify it across them (one fingerprint is open once at a time); nothing
        # is kept per fingerprint ever seen, so memory stays flat over a long span.
        at = (alert.received_at - self.start).total_seconds()
        self.key[alert.id] = f"{alert.fingerprint[:16]}@{at:.3f}"
        self.title[alert.id] = f"{alert.alert_type} on {alert.device_name or alert.device_ip or '-'}: {alert.title}"
        self.open[alert.id] = []

    def add(self, alert_id: str, at: datetime, line: str) -> None:
        lines = self.open.get(alert_id)
        if lines is not None:
            lines.append(f"{(at - self.start).total_seconds():>9.0f}s {line}")

    def name(self, alert_id: str | None) -> str:
        return self.key.get(alert_id or "", "?")

    def close(self, alert_id: str) -> None:
        lines = self.open.pop(alert_id, None)
        if lines is None:
            return
        self.pending.append((self.key.pop(alert_id), self.title.pop(alert_id), self.pages.pop(alert_id, 0),
                             "\n".join(lines)))
        if len(self.pending) >= 1_000:
            self.flush()

    def flush(self) -> None:
        self.db.executemany("INSERT INTO trails VALUES (?, ?, ?, ?)", self.pending)
        self.pending.clear()

    def finish(self, end: datetime) -> None:
        for alert_id in list(self.open):
            self.add(alert_id, end, "still open at the end")
            self.close(alert_id)
        self.flush()
        self.db.commit()
        self.db.close()


class Recorder:
    """Turns each Effects into trail lines and counts."""

    def __init__(self, trails: _Trails):
        self.trails = trails
        self.summary = Summary()

    def record(self, fx: Effects, at: datetime) -> None:
        s, t = self.summary, self.trails
        for alert in fx.created:
            t.new(alert)
            s.counts["created"] += 1
            s.by_type[f"created:{alert.alert_type}"] += 1
            if alert.source_system == "correlation":
                s.counts["correlated"] += 1
                s.by_rule[f"correlate:{alert.correlation_rule}"] += 1
            where = f" under {t.name(alert.correlated_to_id)}" if alert.correlated_to_id else ""
            why = f" ({alert.correlation_rule})" if alert.correlation_rule else ""
            t.add(alert.id, at, f"created {alert.severity.value} {alert.status.value}{where}{why}")
            if alert.status is Status.SUPPRESSED:
                self._suppressed(alert)
        for d in fx.decisions:
            self._decision(d, at)
        for change in fx.changes:
            alert = change.alert
            if change.command is not None:  # an operator's acknowledge or resolve
                s.counts[f"operator_{alert.status.value}"] += 1
                t.add(alert.id, at, f"operator {alert.status.value}")
                if alert.status is Status.RESOLVED:
                    s.counts["resolved"] += 1
                    t.close(alert.id)
                continue
            action = change.action.value if isinstance(change.action, HistoryAction) else change.action
            s.counts[action] += 1
            where = f" under {t.name(alert.correlated_to_id)}" if alert.correlated_to_id else ""
            t.add(alert.id, at, describe_history(action, change.old_status, alert.status) + where)
            if change.action in (HistoryAction.SUPPRESSED, HistoryAction.RELINKED):
                self._suppressed(alert)
        for n in fx.notifications:
            s.notifications[f"{n.channel} {n.kind}"] += 1
            s.by_rule[f"notify:{n.rule}"] += 1
            t.pages[n.alert.id] += 1
            t.add(n.alert.id, at, f"notified {n.channel} {n.kind} by {n.rule}")
        for alert in (*fx.created, *(c.alert for c in fx.changes if c.command is None)):
            if alert.status is Status.RESOLVED:
                s.counts["resolved"] += 1
                t.close(alert.id)

    def _suppressed(self, alert: Alert) -> None:
        self.summary.counts["suppressed"] += 1
        self.summary.by_rule[f"suppress:{alert.correlation_rule}"] += 1
        if alert.correlated_to_id:
            self.summary.suppressed_under[self.trails.title.get(alert.correlated_to_id, "?")] += 1

    def _decision(self, d: Decision, at: datetime) -> None:
        # The trail keeps what changes who is told (holds); each line ends "by <rule>", which
        # the report's annotations read.
        kind = type(d.detail)
        if kind is Enriched:
            self.summary.by_rule[f"enrich:{d.rule}"] += 1
        elif kind is Silenced:
            self.summary.counts["silenced"] += 1
            self.summary.by_rule[f"silence:{d.rule}"] += 1
            self.trails.add(d.alert_id, at, f"{d.detail.describe()} by {d.rule}")
        elif kind is Throttled:
            self.summary.counts["throttled"] += 1
            self.trails.add(d.alert_id, at, f"{d.detail.describe()} by {d.rule}")


def simulate(bundle: Bundle, history: Iterable[HistoryItem], trails_path: Path, *, start: datetime,
             until: datetime | None = None, host: RulesHost | None = None) -> Summary:
    """Run `history` (in time order) through `bundle`; the trails go to `trails_path`."""
    counter = itertools.count(1)
    pipeline = Pipeline(bundle, host or RulesHost(), normalizers=NORMALIZERS, new_id=lambda: f"00000000-0000-4000-8000-{next(counter):012d}")
    trails = _Trails(trails_path, start)
    rec = Recorder(trails)
    clock = start
    try:
        for item in history:
            now = max(at_of(item), clock)  # a stored event a moment out of order runs at the current time
            clock = _tick_until(pipeline, rec, clock, now)
            now = max(now, clock)
            if isinstance(item, RawEvent):
                rec.summary.events += 1
                try:
                    rec.record(pipeline.process(item, now), now)
                except Exception as exc:  # noqa: BLE001 - as in serve: one bad event never stops the rest
                    rec.summary.failed_events += 1
                    log.debug("replay: event %s failed: %s", item.event_id, exc)
            else:
                rec.summary.operator_actions += 1
                alert = pipeline.state.open_alert(item.fingerprint)
                if alert is not None:
                    verb = Verb.RESOLVE if item.action is HistoryAction.RESOLVED else Verb.ACKNOWLEDGE
                    rec.record(pipeline.command(OperatorCommand(alert.id, verb, None, item.actor, item.note), now), now)
        clock = _tick_until(pipeline, rec, clock, max(until or clock, clock + SETTLE_AFTER))
        return rec.summary
    finally:
        trails.finish(clock)
        pipeline.close()


def _tick_until(pipeline: Pipeline, rec: Recorder, clock: datetime, now: datetime) -> datetime:
    """Tick up to `now`; returns the time of the last tick. As in serve, the tick runs about
    once a second, not once per event."""
    while clock + TICK < now:
        clock += TICK
        rec.record(pipeline.tick(clock), clock)
    if now - clock >= SECOND:
        rec.record(pipeline.tick(now), now)
        return now
    return clock
