"""Stage 4: who is told. New active alerts go to the channels of the rules that matched
(throttled per rule and fingerprint); cleared alerts send `resolved` to whoever was told
of the problem."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Iterable

from ..config.bundle import NotifyAction, Rule
from ..model import Alert, Status
from .effects import Decision, Notification
from .work import Context, Work


def route(work: Work, ctx: Context) -> Work:
    notifications: list[Notification] = []
    decisions: list[Decision] = []
    outcomes = {c.alert.id: c.outcome for c in work.candidates}
    for alert in work.effects.created:
        if alert.status is not Status.ACTIVE:
            continue
        if alert.source_system == "correlation":
            # A parent is announced by the rule that correlated it.
            rule = ctx.rules.rule(alert.correlation_rule or "")
            actions = ((rule, rule.notify),) if rule is not None and rule.notify else ()
            firing(alert, actions, work.now, ctx, notifications, decisions)
        elif outcomes.get(alert.id) is not None:
            firing(alert, outcomes[alert.id].notify, work.now, ctx, notifications, decisions)
    for change in work.effects.changes:
        if change.action == "cleared":
            resolved(change.alert, work.now, ctx, notifications, decisions)
    effects = replace(work.effects, notifications=work.effects.notifications + tuple(notifications),
                      decisions=work.effects.decisions + tuple(decisions))
    return replace(work, effects=effects)


def firing(alert: Alert, actions: Iterable[tuple[Rule, NotifyAction]], now: datetime, ctx: Context,
           out: list[Notification], decisions: list[Decision]) -> None:
    for rule, action in actions:
        last = ctx.state.last_notified.get((rule.name, alert.fingerprint))
        if action.throttle and last is not None and (now - last).total_seconds() < action.throttle:
            decisions.append(Decision(alert.id, "route", rule.name, {"throttled": True, "last_notified": last.isoformat()},
                                      ctx.view.version_id))
            continue
        for channel in action.channels:
            out.append(Notification(alert, rule.name, channel, "firing", now, action))
        decisions.append(Decision(alert.id, "route", rule.name, {"notify": list(action.channels)}, ctx.view.version_id))


def resolved(alert: Alert, now: datetime, ctx: Context, out: list[Notification], decisions: list[Decision]) -> None:
    told = ctx.state.notified.get(alert.id, {})
    for (rule, channel), action in sorted(told.items(), key=lambda item: item[0]):
        if action is not None and not action.send_resolved:
            continue
        out.append(Notification(alert, rule, channel, "resolved", now, action))
    if told:
        decisions.append(Decision(alert.id, "route", "resolved", {"notify": sorted({c for _, c in told})},
                                  ctx.view.version_id))

