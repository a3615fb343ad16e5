"""Stage 4: who is told. New active alerts go to the channels of the rules that matched;
an alert whose severity rose goes to the rules it newly matches (`escalated`); cleared
alerts send `resolved` to whoever was told of the problem.

A notification that may not go out yet is held, never dropped: under a silence, within a
rule's throttle, while the alert is flapping. Each tick releases what may go now, if the
alert is still active (`released`)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, cast

from ..config.bundle import NotifyAction, Rule
from ..events import Decision, FlapHeld, Notified, Silenced, Throttled
from ..model import Alert, HistoryAction, Status, StoredAlert
from .effects import (ACKNOWLEDGED, ESCALATED, FIRING, RELEASED, REPEAT, RESOLVED, Actions, HeldActions, Notification,
                      NotificationKind)
from .silences import active_silence
from .work import Context, Work


def route(work: Work, ctx: Context) -> Work:
    notifications: list[Notification] = []
    decisions: list[Decision] = []
    held: list[HeldActions] = []
    outcomes = {c.alert.id: c.outcome for c in work.candidates}
    for alert in work.effects.created:
        if alert.status is not Status.ACTIVE:
            continue
        if alert.source_system == "correlation":
            firing(alert, announced_by(alert, ctx), work.now, ctx, notifications, decisions, held)
        elif (outcome := outcomes.get(alert.id)) is not None:
            firing(alert, outcome.notify, work.now, ctx, notifications, decisions, held)
    for c in work.candidates:
        if c.escalated_from is not None and c.outcome is not None:
            # correlate sets escalated_from on repeats of open alerts only: stored, with their id
            escalated(cast(StoredAlert, c.alert), c.outcome.notify, work.now, ctx, notifications, decisions, held)
    for change in work.effects.changes:
        if change.action in (HistoryAction.CLEARED, HistoryAction.RESOLVED):
            resolved(change.alert, work.now, ctx, notifications, decisions)
    effects = work.effects.with_(notifications=work.effects.notifications + tuple(notifications),
                      decisions=work.effects.decisions + tuple(decisions), held=work.effects.held + tuple(held))
    return work.with_(effects=effects)


def parent_rule(alert: StoredAlert, ctx: Context) -> str | None:
    """The correlation rule that made a parent (its correlation_rule, or the group it leads
    once it was linked under a root)."""
    group = ctx.state.parent_keys.get(alert.id)
    if group is None:
        return alert.correlation_rule
    rule, _ = group
    return rule


def announced_by(alert: StoredAlert, ctx: Context) -> Actions:
    """A parent is announced by the rule that correlated it."""
    rule = ctx.rules.rule(parent_rule(alert, ctx) or "")
    return ((rule, rule.notify),) if rule is not None and rule.notify else ()


def firing(alert: StoredAlert, actions: Iterable[tuple[Rule, NotifyAction]], now: datetime, ctx: Context,
           out: list[Notification], decisions: list[Decision], held: list[HeldActions],
           kind: NotificationKind = FIRING) -> None:
    actions = tuple(actions)
    if not actions:
        return
    silence = active_silence(alert, ctx.view, now, ctx.state.adhoc_silences)
    if silence is not None:
        hold(alert.id, actions, ctx, held)
        decisions.append(Decision(alert.id, f"silence:{silence.name}",
                                  Silenced(silence.ends_at, silence.owner, silence.comment), ctx.view.version_id))
        return
    if alert.custom_fields.get("flapping"):
        hold(alert.id, actions, ctx, held)
        decisions.append(Decision(alert.id, "flapping", FlapHeld(tuple(r.name for r, _ in actions)),
                                  ctx.view.version_id))
        return
    throttled = []
    for rule, action in actions:
        until = throttled_until(rule.name, alert, action, now, ctx)
        if until is not None:
            throttled.append((rule, action))
            decisions.append(Decision(alert.id, rule.name, Throttled(until.isoformat()), ctx.view.version_id))
            continue
        for channel in action.channels:
            out.append(Notification(alert, rule.name, channel, kind, now, action))
        decisions.append(Decision(alert.id, rule.name, Notified(tuple(action.channels)), ctx.view.version_id))
    if throttled:
        hold(alert.id, tuple(throttled), ctx, held)


def throttled_until(rule: str, alert: Alert, action: NotifyAction, now: datetime, ctx: Context) -> datetime | None:
    """When the rule's throttle for this fingerprint ends, if it has not yet."""
    if not action.throttle:
        return None
    last = ctx.state.last_notified.get((rule, alert.fingerprint))
    if last is None:
        return None
    until = last + timedelta(seconds=action.throttle)
    return until if now < until else None


def hold(alert_id: str, actions: Actions, ctx: Context, held: list[HeldActions]) -> None:
    """Adds to what is held for the alert (an entry of `held` is the alert's whole held set)."""
    current = next((h.actions for h in reversed(held) if h.alert_id == alert_id), None)
    if current is None:
        current = ctx.state.held.get(alert_id, ())
    names = {r.name for r, _ in current}
    held.append(HeldActions(alert_id, current + tuple((r, a) for r, a in actions if r.name not in names)))


def escalated(alert: StoredAlert, actions: Iterable[tuple[Rule, NotifyAction]], now: datetime, ctx: Context,
              out: list[Notification], decisions: list[Decision], held: list[HeldActions]) -> None:
    """The alert's severity rose: the rules it now matches that were neither told nor holding
    a notification for it are told (`escalated`). A suppressed alert tells no one."""
    if alert.status not in (Status.ACTIVE, Status.ACKNOWLEDGED):
        return
    known = {rule for rule, _ in ctx.state.notified.get(alert.id, {})}
    known |= {r.name for r, _ in ctx.state.held.get(alert.id, ())}
    new = tuple((r, a) for r, a in actions if r.name not in known)
    firing(alert, new, now, ctx, out, decisions, held, ESCALATED)


def resolved(alert: StoredAlert, now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision]) -> None:
    told = ctx.state.notified.get(alert.id, {})
    for (rule, channel), action in sorted(told.items(), key=lambda item: item[0]):
        if action is not None and not action.send_resolved:
            continue
        out.append(Notification(alert, rule, channel, RESOLVED, now, action))
    if told:
        decisions.append(Decision(alert.id, "resolved", Notified(tuple(sorted({c for _, c in told}))),
                                  ctx.view.version_id))


def acknowledged(alert: StoredAlert, now: datetime, ctx: Context, out: list[Notification],
                 decisions: list[Decision]) -> None:
    """An operator acknowledged it: PagerDuty channels that were told get an `acknowledge`
    (the incident stops escalating there). Other channels are not told of acknowledges."""
    told = ctx.state.notified.get(alert.id, {})
    channels = {c.name: c.type for c in ctx.view.bundle.channels}
    pagers = sorted((rule, channel, action) for (rule, channel), action in told.items()
                    if channels.get(channel) == "pagerduty")
    for rule, channel, action in pagers:
        out.append(Notification(alert, rule, channel, ACKNOWLEDGED, now, action))
    if pagers:
        decisions.append(Decision(alert.id, "acknowledged", Notified(tuple(sorted({c for _, c, _ in pagers}))),
                                  ctx.view.version_id))


def repeats(now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision],
            held: list[HeldActions]) -> None:
    """repeat_interval: tell again whoever was told of an alert that is still active. Only
    the wake-ups that are due are looked at. Every notification schedules its own next
    wake-up (ActiveAlerts.told), so one whose alert was told again meanwhile is simply
    not due yet, and one whose alert closed or was acknowledged is dropped. A repeat due
    under a silence, or while the alert flaps, is held like a first notification, and
    released when nothing holds it any more."""
    seen: set[tuple[str, str, str]] = set()
    for _, alert_id, rule, channel in ctx.state.due_repeats(now):
        if (alert_id, rule, channel) in seen:  # woken twice (told again meanwhile): once is enough
            continue
        seen.add((alert_id, rule, channel))
        alert = ctx.state.by_id.get(alert_id)
        if alert is None or alert.status is not Status.ACTIVE:
            continue
        action = ctx.state.notified.get(alert_id, {}).get((rule, channel))
        if action is None or not action.repeat_interval:
            continue
        last = ctx.state.last_notified.get((rule, alert.fingerprint))
        if last is None or (now - last).total_seconds() < action.repeat_interval:
            continue
        silence = active_silence(alert, ctx.view, now, ctx.state.adhoc_silences)
        if silence is not None or alert.custom_fields.get("flapping"):
            current = ctx.rules.rule(rule)
            if current is not None:
                hold(alert.id, ((current, action),), ctx, held)
            if silence is None:
                decisions.append(Decision(alert.id, "flapping", FlapHeld((rule,), repeat=True), ctx.view.version_id))
                continue
            decisions.append(Decision(alert.id, f"silence:{silence.name}",
                                      Silenced(silence.ends_at, silence.owner, silence.comment, repeat=True),
                                      ctx.view.version_id))
            continue
        out.append(Notification(alert, rule, channel, REPEAT, now, action))
        decisions.append(Decision(alert.id, rule, Notified((channel,), repeat=True), ctx.view.version_id))


def released(now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision],
             held: list[HeldActions]) -> None:
    """Held notifications of alerts still active go out once nothing holds them any more
    (the silence ended, the throttle passed, the alert stopped flapping)."""
    for alert_id, actions in list(ctx.state.held.items()):
        alert = ctx.state.by_id.get(alert_id)
        if alert is None or alert.status is not Status.ACTIVE or alert.custom_fields.get("flapping"):
            continue
        if active_silence(alert, ctx.view, now, ctx.state.adhoc_silences) is not None:
            continue
        due = tuple((r, a) for r, a in actions if throttled_until(r.name, alert, a, now, ctx) is None)
        if not due:
            continue
        held.append(HeldActions(alert_id, tuple(ra for ra in actions if ra not in due)))
        firing(alert, due, now, ctx, out, decisions, held, RELEASED)


def release_times(ctx: Context) -> list[datetime]:
    """When held notifications may go out at the latest known time (a throttle's end), for a
    clock that sleeps until the next thing to do (rule tests)."""
    times = []
    for alert_id, actions in ctx.state.held.items():
        alert = ctx.state.by_id.get(alert_id)
        if alert is None:
            continue
        for rule, action in actions:
            last = ctx.state.last_notified.get((rule.name, alert.fingerprint))
            if action.throttle and last is not None:
                times.append(last + timedelta(seconds=action.throttle))
    return times
