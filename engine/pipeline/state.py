"""The in-memory view of open alerts that the stages read; rebuilt from the database at start.

Only `apply` changes it, from the Effects the stages returned, so stages stay pure.
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Literal

from ..connectors import catalog
from ..config.bundle import FlapPolicy, NotifyAction, Silence
from ..model import EMPTY, Alert, Status, StoredAlert, evolve
from ..rootcause import explains
from .effects import TELLS, Actions, Effects, GroupKey, GroupParent
from .silences import StoredSilence, adhoc

# How long a clear is remembered after the time it happened (it holds back an older problem
# that arrives after it).
CLEAR_MEMORY_SECONDS = 900.0

# What an entry of the expiry heap is about (ActiveAlerts.expiry).
Expiring = Literal["window", "throttle", "clear", "flap"]


def slim(source_system: str) -> bool:
    """Whether nothing in memory reads the alert's raw data again: polled connectors rebuild
    their diff state from raw_data at restart; received events (traps, webhooks) and
    correlation parents do not. The database keeps it all."""
    spec = catalog.get(source_system)
    return source_system == "correlation" if spec is None else not spec.polled


def is_down(alert: Alert) -> bool:
    """An open root cause: its device is down (which dependents it explains: engine/rootcause.py).
    Configuration decides, through OID maps and connector mappings, never a list of types here."""
    return alert.root_cause is not None and alert.status is not Status.RESOLVED


@dataclass
class FlapTrack:
    """One fingerprint's recent state changes, for flap detection (pipeline/flapping.py)."""

    policy: FlapPolicy
    times: deque[datetime] = field(default_factory=deque)

    def within(self, now: datetime) -> int:
        horizon = now - timedelta(seconds=self.policy.window)
        return sum(1 for t in self.times if t >= horizon)


@dataclass
class ActiveAlerts:
    by_id: dict[str, StoredAlert] = field(default_factory=dict)
    by_fp: dict[str, str] = field(default_factory=dict)  # fingerprint → id, open alerts only
    down_by_device: dict[str, set[str]] = field(default_factory=dict)  # device ip → open root-cause alert ids
    children: dict[str, set[str]] = field(default_factory=dict)  # root/parent id → linked child ids
    notified: dict[str, dict[tuple[str, str], NotifyAction | None]] = field(default_factory=dict)
    last_notified: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (rule, fingerprint)
    windows: dict[tuple[str, GroupKey], deque[tuple[datetime, str]]] = field(default_factory=dict)  # (rule, group key) → (time, id)
    # (rule, group key) → the group's latest parent and when a member last joined it: its
    # window is open while members keep joining within the rule's window.
    parents: dict[tuple[str, GroupKey], GroupParent] = field(default_factory=dict)
    reevaluate: dict[str, datetime] = field(default_factory=dict)  # child id → when to look again
    orphans: set[str] = field(default_factory=set)  # children whose root closed before a restart
    # New active alerts of the last `recent_horizon` seconds, (received_at, id): a root cause
    # that arrives links those below it that came a little earlier (the lookback).
    recent: deque[tuple[datetime, str]] = field(default_factory=deque)
    recent_horizon: float = 300.0
    # alert id → (rule, notify action) pairs held back (silence, throttle, flapping) until they may go
    held: dict[str, Actions] = field(default_factory=dict)
    # The ad-hoc silences not ended (running or upcoming), by id: loaded from the database at
    # start, then changed by operators' commands (pipeline/silencing.py) and dropped once over.
    silences: dict[int, StoredSilence] = field(default_factory=dict)
    # The same as the engine matches them, replaced whole (one assignment) on each change, so a
    # reader in another thread (the web's "silenced by") sees a consistent tuple.
    adhoc_silences: tuple[Silence, ...] = ()
    # repeat_interval wake-ups, a heap of (due, alert id, rule, channel): the tick looks at
    # what is due instead of every notified alert (100,000 of them took ~100 ms a tick).
    repeat_due: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    # What matters only for a while (a correlation window's entries; a closed alert's
    # throttle), as a heap of (expires, n, kind, key, detail): each tick drops what expired,
    # so nothing here grows with the alerts the engine has ever seen. The key and detail
    # depend on the kind: (rule, group key) and (at, id) of a window; (rule, fingerprint) and
    # the time told of a throttle; (fingerprint,) and a time of a clear or a flap.
    expiry: list[tuple[datetime, int, Expiring, tuple[Any, ...], Any]] = field(default_factory=list)
    parent_keys: dict[str, tuple[str, GroupKey]] = field(default_factory=dict)  # parent id → (rule, group key)
    # fingerprint → the latest occurred_at of a clear for it, for CLEAR_MEMORY_SECONDS: a problem
    # older than that clear arriving after it (UDP, a retried webhook) is over already.
    last_clear: dict[str, datetime] = field(default_factory=dict)
    flaps: dict[str, FlapTrack] = field(default_factory=dict)  # fingerprint → its recent state changes
    flapping: set[str] = field(default_factory=set)  # ids of open alerts marked flapping
    _sequence: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def open_alert(self, fp: str) -> StoredAlert | None:
        alert_id = self.by_fp.get(fp)
        return self.by_id.get(alert_id) if alert_id else None

    def down_alert_on(self, device_ip: str, dependency_type: str) -> StoredAlert | None:
        """The oldest open root cause on the device that explains dependents of this type
        (deterministic: received_at, then id)."""
        ids = self.down_by_device.get(device_ip)
        if not ids:
            return None
        roots = [a for a in (self.by_id[i] for i in ids) if explains(a.root_cause, dependency_type)]
        return min(roots, key=lambda a: (a.received_at, a.id)) if roots else None

    def due_repeats(self, now: datetime) -> list[tuple[datetime, str, str, str]]:
        """The wake-ups due by `now`, in order, leaving the heap as it is: entries ≤ now form
        a subtree at the heap's root, so only they and their direct children are visited."""
        heap, due, stack = self.repeat_due, [], [0]
        while stack:
            i = stack.pop()
            if i < len(heap) and heap[i][0] <= now:
                due.append(heap[i])
                stack += (2 * i + 1, 2 * i + 2)
        return sorted(due)

    def told(self, alert_id: str, fingerprint: str, rule: str, channel: str, action: NotifyAction | None,
             at: datetime) -> None:
        """Someone was told of an open alert (by the pipeline, or as the database says at start)."""
        self.notified.setdefault(alert_id, {})[(rule, channel)] = action
        self.last_notified[(rule, fingerprint)] = at
        if action is not None and action.repeat_interval:
            heapq.heappush(self.repeat_due, (at + timedelta(seconds=action.repeat_interval), alert_id, rule, channel))

    def untold(self, alert_id: str, fingerprint: str, rule: str, channel: str, at: datetime) -> None:
        """A firing notification decided at `at` finally failed: it told nobody, so the
        channel is not among those told of the alert (no resolve goes there) and, if it is
        still the latest of its rule for this fingerprint, no throttle counts from it."""
        told = self.notified.get(alert_id, {})
        told.pop((rule, channel), None)
        if not told:
            self.notified.pop(alert_id, None)
        other_channel = any(r == rule for r, _ in told)  # the rule reached this alert elsewhere: it throttles
        if self.last_notified.get((rule, fingerprint)) == at and not other_channel:
            del self.last_notified[(rule, fingerprint)]

    def root_of(self, alert: StoredAlert) -> StoredAlert:
        seen = set()
        while alert.correlated_to_id and alert.correlated_to_id in self.by_id and alert.id not in seen:
            seen.add(alert.id)
            alert = self.by_id[alert.correlated_to_id]
        return alert

    # ---- the one mutator ------------------------------------------------------------------

    def apply(self, effects: Effects) -> None:
        for alert in effects.created:
            self._put(alert)
            if alert.status is Status.ACTIVE and alert.device_ip and not alert.correlated_to_id:
                self.recent.append((alert.received_at, alert.id))
        for alert in effects.occurrences:
            self._put(alert)
        for change in effects.changes:
            self._put(change.alert)
        for alert in effects.external:
            self._put(alert)
        if effects.ticked_at is not None:  # before the notifications: a repeat's next wake-up is later
            while self.repeat_due and self.repeat_due[0][0] <= effects.ticked_at:
                heapq.heappop(self.repeat_due)
        for n in effects.notifications:
            if n.kind in TELLS:
                self.told(n.alert.id, n.alert.fingerprint, n.rule, n.channel, n.action, n.at)
        for entry in effects.window_entries:
            group, seen = (entry.rule, entry.key), (entry.at, entry.alert_id)
            self.windows.setdefault(group, deque()).append(seen)
            self._expires(entry.at + timedelta(seconds=entry.window), "window", group, seen)
        for lead in effects.parents:
            self.parents[(lead.rule, lead.key)] = lead
            self.parent_keys[lead.parent_id] = (lead.rule, lead.key)
        for clear in effects.clears_seen:
            fp, occurred = clear.fingerprint, clear.occurred_at
            if fp not in self.last_clear or self.last_clear[fp] < occurred:
                self.last_clear[fp] = occurred
                self._expires(occurred + timedelta(seconds=CLEAR_MEMORY_SECONDS), "clear", (fp,), occurred)
        for flap in effects.flap_changes:
            fp, at, policy = flap.fingerprint, flap.at, flap.policy
            track = self.flaps.get(fp)
            if track is None:
                track = self.flaps[fp] = FlapTrack(policy)
            track.policy = policy
            track.times.append(at)
            while track.times and track.times[0] < at - timedelta(seconds=policy.window):
                track.times.popleft()
            self._expires(at + timedelta(seconds=policy.window), "flap", (fp,), at)
        for held in effects.held:
            if held.actions:
                self.held[held.alert_id] = held.actions
            else:
                self.held.pop(held.alert_id, None)
        for again in effects.reevaluate:
            self.orphans.discard(again.child_id)
            if again.due is None:
                self.reevaluate.pop(again.child_id, None)
            elif again.child_id in self.by_id:
                self.reevaluate[again.child_id] = again.due
        if effects.silences:
            for silence in effects.silences:
                self.silences[silence.silence.id] = silence.silence
            self._silences_changed(None)
        if effects.ticked_at is not None:
            self._expire(effects.ticked_at)
            if any(s.ends_at <= effects.ticked_at for s in self.silences.values()):
                self._silences_changed(effects.ticked_at)

    def set_silences(self, stored: Iterable[StoredSilence]) -> None:
        """The ad-hoc silences as the database holds them (at start: store.silences.live)."""
        self.silences = {s.id: s for s in stored}
        self._silences_changed(None)

    def _silences_changed(self, now: datetime | None) -> None:
        """Drop the ended ones (deleted, or over by `now`), and make the matching tuple again."""
        self.silences = {i: s for i, s in self.silences.items()
                         if s.deleted_at is None and (now is None or s.ends_at > now)}
        self.adhoc_silences = tuple(adhoc(s) for s in sorted(self.silences.values(), key=lambda s: (s.starts_at, s.id)))

    # ---- start-up: what `opsc serve` rebuilds from the database (and a rule test's restart) ----

    def rebuild(self, alerts: Iterable[StoredAlert]) -> None:
        """The open alerts, as stored (resolved ones are skipped). A child suppressed under a
        dependency root that is no longer open (it cleared before the restart, or is missing) is
        an orphan: the first tick looks at it again after the settle time, as if its root had
        cleared then (the wait in memory did not survive the restart)."""
        for alert in alerts:
            if alert.status is not Status.RESOLVED:
                self._put(alert)
        self.orphans = {a.id for a in self.by_id.values()
                        if a.status is Status.SUPPRESSED and a.correlated_to_id and a.correlated_to_id not in self.by_id
                        and (a.correlation_rule or "").startswith("dependency:")}

    def restore_told(self, rows: Iterable[tuple[str, str, str, datetime]],
                     action_of: Callable[[str], NotifyAction | None]) -> None:
        """Who was told of which open alert, from the notification log's latest (alert id, rule,
        channel, sent_at) rows: resolved notifications, throttles and repeats survive a restart.
        `action_of(rule)` is the rule's notify action in the config version now loaded."""
        for alert_id, rule_name, channel, sent_at in rows:
            alert = self.by_id.get(alert_id)
            if alert is not None:
                self.told(alert_id, alert.fingerprint, rule_name, channel, action_of(rule_name), sent_at)

    def restore_throttles(self, rows: Iterable[tuple[str, str, datetime]],
                          action_of: Callable[[str], NotifyAction | None]) -> None:
        """Throttles of alerts that closed before a restart, from (rule, fingerprint, last told)
        rows: a recurrence within the throttle is held back as it would have been."""
        for rule_name, fp, at in rows:
            action = action_of(rule_name)
            if action is None or not action.throttle or fp in self.by_fp:
                continue
            if self.last_notified.get((rule_name, fp), at) <= at:
                self.last_notified[(rule_name, fp)] = at
                self._expires(at + timedelta(seconds=action.throttle), "throttle", (rule_name, fp), at)

    def poll_state(self, connector: str) -> dict[str, dict[str, Any]]:
        """A polling connector's last known problems (its diff state), from the open alerts it
        raised: what a connector starts from after a restart."""
        return {a.source_alert_id: dict(a.raw_data) for a in list(self.by_id.values())
                if a.connector == connector and a.raw_data}

    def _put(self, alert: StoredAlert) -> None:
        old = self.by_id.get(alert.id)
        if old is not None:
            self._unlink(old)
        if alert.status is Status.RESOLVED:
            self.by_id.pop(alert.id, None)
            if self.by_fp.get(alert.fingerprint) == alert.id:
                del self.by_fp[alert.fingerprint]
            for (rule, _), action in self.notified.pop(alert.id, {}).items():
                last = self.last_notified.get((rule, alert.fingerprint))
                if last is not None:  # kept while the throttle can still hold back a new alert like it
                    throttle = action.throttle if action is not None else 0.0
                    self._expires(last + timedelta(seconds=throttle), "throttle", (rule, alert.fingerprint), last)
            key = self.parent_keys.pop(alert.id, None)
            lead = self.parents.get(key) if key is not None else None
            if lead is not None and lead.parent_id == alert.id:
                del self.parents[(lead.rule, lead.key)]
            self.reevaluate.pop(alert.id, None)
            self.held.pop(alert.id, None)
            self.flapping.discard(alert.id)
            return
        if alert.raw_data and slim(alert.source_system):
            alert = evolve(alert, raw_data=EMPTY)  # ~1 KB less per open alert held here
        self.by_id[alert.id] = alert
        self.by_fp[alert.fingerprint] = alert.id
        if is_down(alert) and alert.device_ip:
            self.down_by_device.setdefault(alert.device_ip, set()).add(alert.id)
        if alert.correlated_to_id:
            self.children.setdefault(alert.correlated_to_id, set()).add(alert.id)
        if alert.custom_fields.get("flapping"):
            self.flapping.add(alert.id)
        else:
            self.flapping.discard(alert.id)

    def _expires(self, at: datetime, kind: Expiring, key: tuple[Any, ...], detail: Any) -> None:
        heapq.heappush(self.expiry, (at, next(self._sequence), kind, key, detail))

    def _expire(self, now: datetime) -> None:
        """Drop what expired before `now` (strictly: at its expiry instant it still counts)."""
        horizon = now - timedelta(seconds=self.recent_horizon)
        while self.recent and self.recent[0][0] < horizon:
            self.recent.popleft()
        while self.expiry and self.expiry[0][0] < now:
            _, _, kind, key, detail = heapq.heappop(self.expiry)
            if kind == "window":
                entries = self.windows.get(key)
                if entries:
                    if entries[0] == detail:
                        entries.popleft()
                    elif detail in entries:  # events arrived slightly out of time order
                        entries.remove(detail)
                    if not entries:
                        del self.windows[key]
            elif kind == "throttle" and self.last_notified.get(key) == detail:  # not told again since
                del self.last_notified[key]
            elif kind == "clear" and self.last_clear.get(key[0]) == detail:  # no later clear since
                del self.last_clear[key[0]]
            elif kind == "flap":
                track = self.flaps.get(key[0])
                if track is None or not track.times or track.times[-1] != detail:
                    continue  # changed again since: a later entry decides
                if self.by_fp.get(key[0]) in self.flapping:  # still flapping: look again later
                    self._expires(now + timedelta(seconds=track.policy.window), "flap", key, detail)
                else:
                    del self.flaps[key[0]]

    def _unlink(self, alert: StoredAlert) -> None:
        if alert.device_ip in self.down_by_device:
            ids = self.down_by_device[alert.device_ip]
            ids.discard(alert.id)
            if not ids:
                del self.down_by_device[alert.device_ip]
        if alert.correlated_to_id in self.children:
            kids = self.children[alert.correlated_to_id]
            kids.discard(alert.id)
            if not kids:
                del self.children[alert.correlated_to_id]
