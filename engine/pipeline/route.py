"""Stage 4: who is told. New active alerts go to the channels of the rules that matched
(throttled per rule and fingerprint); cleared alerts send `resolved` to whoever was told
of the problem."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from ..config.bundle import NotifyAction, Rule
from ..model import Alert, Status
from .effects import FIRING, RELEASED, REPEAT, RESOLVED, Decision, Notification
from .silences import active_silence
from .work import Context, Work


def route(work: Work, ctx: Context) -> Work:
    notifications: list[Notification] = []
    decisions: list[Decision] = []
    held: list = []
    outcomes = {c.alert.id: c.outcome for c in work.candidates}
    for alert in work.effects.created:
        if alert.status is not Status.ACTIVE:
            continue
        if alert.source_system == "correlation":
            # A parent is announced by the rule that correlated it.
            rule = ctx.rules.rule(alert.correlation_rule or "")
            actions = ((rule, rule.notify),) if rule is not None and rule.notify else ()
            firing(alert, actions, work.now, ctx, notifications, decisions, held)
        elif outcomes.get(alert.id) is not None:
            firing(alert, outcomes[alert.id].notify, work.now, ctx, notifications, decisions, held)
    for change in work.effects.changes:
        if change.action in ("cleared", "resolved"):
            resolved(change.alert, work.now, ctx, notifications, decisions)
    effects = work.effects.with_(notifications=work.effects.notifications + tuple(notifications),
                      decisions=work.effects.decisions + tuple(decisions), held=work.effects.held + tuple(held))
    return work.with_(effects=effects)


def firing(alert: Alert, actions: Iterable[tuple[Rule, NotifyAction]], now: datetime, ctx: Context,
           out: list[Notification], decisions: list[Decision], held: list, kind: str = FIRING) -> None:
    actions = tuple(actions)
    if not actions:
        return
    silence = active_silence(alert, ctx.view, now)
    if silence is not None:
        held.append((alert.id, actions))
        decisions.append(Decision(alert.id, "route", f"silence:{silence.name}",
                                  {"silenced": True, "until": silence.ends_at, "owner": silence.owner,
                                   "comment": silence.comment}, ctx.view.version_id))
        return
    for rule, action in actions:
        last = ctx.state.last_notified.get((rule.name, alert.fingerprint))
        if action.throttle and last is not None and (now - last).total_seconds() < action.throttle:
            decisions.append(Decision(alert.id, "route", rule.name, {"throttled": True, "last_notified": last.isoformat()},
                                      ctx.view.version_id))
            continue
        for channel in action.channels:
            out.append(Notification(alert, rule.name, channel, kind, now, action))
        decisions.append(Decision(alert.id, "route", rule.name, {"notify": list(action.channels)}, ctx.view.version_id))


def resolved(alert: Alert, now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision]) -> None:
    told = ctx.state.notified.get(alert.id, {})
    for (rule, channel), action in sorted(told.items(), key=lambda item: item[0]):
        if action is not None and not action.send_resolved:
            continue
        out.append(Notification(alert, rule, channel, RESOLVED, now, action))
    if told:
        decisions.append(Decision(alert.id, "route", "resolved", {"notify": sorted({c for _, c in told})},
                                  ctx.view.version_id))



def repeats(now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision]) -> None:
    """repeat_interval: tell again whoever was told of an alert that is still active. Only
    the wake-ups that are due are looked at. Every notification schedules its own next
    wake-up (ActiveAlerts.told), so one whose alert was told again meanwhile is simply
    not due yet, and one whose alert closed or was acknowledged is dropped."""
    seen = set()
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
        if last is None:
            continue
        if (now - last).total_seconds() >= action.repeat_interval:
            out.append(Notification(alert, rule, channel, REPEAT, now, action))
            decisions.append(Decision(alert.id, "route", rule, {"repeat": True, "notify": [channel]},
                                      ctx.view.version_id))


def released(now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision], held: list) -> None:
    """Alerts whose silence ended while they are still active are notified now."""
    for alert_id, actions in list(ctx.state.silenced.items()):
        alert = ctx.state.by_id.get(alert_id)
        if alert is None or alert.status is not Status.ACTIVE:
            continue
        if active_silence(alert, ctx.view, now) is None:
            held.append((alert_id, ()))
            firing(alert, actions, now, ctx, out, decisions, held, RELEASED)
