"""The tick stage: what time alone triggers, with the stages' signature (`tick(work, ctx)
-> work`; the work carries no event, only the time). Children whose root cleared are looked
at again (relinked to another root, kept under a rule's suppression, or made active and
notified on their own after the settle time); flapping alerts that became stable end as they
stand; `repeat_interval` reminders; held notifications whose silence or throttle ended go
out; what only mattered for a while expires (`ticked_at`). The serving worker runs it about
once a second, rule tests and replay on their simulated clock.
"""
from __future__ import annotations

from ..events import Decision, RuleSuppressed, UnderRoot, Unsuppressed
from ..model import HistoryAction, Status, evolve
from . import flapping
from .correlate import children_to_reevaluate, close_parents, dependency_rule, find_root, settle_due
from .effects import Change, EffectsBuilder, Notification, Reevaluation
from .route import announced_by, firing, parent_rule, released, repeats, resolved
from .work import Context, Work


def tick(work: Work, ctx: Context) -> Work:
    now = work.now
    fx = EffectsBuilder(None)
    notifications: list[Notification] = []
    decisions: list[Decision] = []
    for child_id in sorted(ctx.state.orphans):  # their root closed before a restart
        if (child := ctx.state.by_id.get(child_id)) is not None:
            fx.reevaluate.append(Reevaluation(child_id, settle_due(child, now, ctx)))
    # Only what is due is sorted: a tick runs every second, the waiting children can be many.
    due_children = sorted([(due, child_id) for child_id, due in ctx.state.reevaluate.items() if due <= now])
    for _, child_id in due_children:
        fx.reevaluate.append(Reevaluation(child_id, None))
        child = ctx.state.by_id.get(child_id)
        if child is None or child.status is not Status.SUPPRESSED:
            continue
        found = find_root(child, ctx)
        if found is not None:
            root, edge = found
            rule = dependency_rule(child, edge, ctx)
            relinked = evolve(child, correlated_to_id=root.id, correlation_rule=rule)
            fx.changes.append(Change(relinked, HistoryAction.RELINKED, child.status))
            fx.decisions.append(Decision(child.id, rule, UnderRoot(root.id), ctx.view.version_id))
            continue
        parent = child.source_system == "correlation"  # a storm's parent linked under the root
        active = evolve(child, status=Status.ACTIVE, correlated_to_id=None,
                        correlation_rule=parent_rule(child, ctx) if parent else None)
        outcome = ctx.rules.evaluate(active, ctx.view.site(active.device_ip), now)
        if outcome.suppress:  # a rule suppressed it too: that suppression stays
            rule_, reason = outcome.suppress
            kept = evolve(child, correlated_to_id=None, correlation_rule=rule_.name[:100])
            fx.changes.append(Change(kept, HistoryAction.RELINKED, child.status))
            fx.decisions.append(Decision(child.id, rule_.name, RuleSuppressed(reason, "root cleared, still open"),
                                         ctx.view.version_id))
            continue
        fx.changes.append(Change(active, HistoryAction.UNSUPPRESSED, child.status))
        fx.decisions.append(Decision(child.id, "reevaluate", Unsuppressed(), ctx.view.version_id))
        firing(active, announced_by(active, ctx) if parent else outcome.notify, now, ctx,
               notifications, decisions, fx.held)
    closed = flapping.settled(now, ctx, fx, notifications, decisions)
    if closed:  # ended up, after flapping: as a clear would
        before = len(fx.changes)
        close_parents(closed, ctx, fx)
        for change in fx.changes[before:]:
            resolved(change.alert, now, ctx, notifications, decisions)
        for alert in closed:
            fx.reevaluate.extend(children_to_reevaluate(alert.id, now, ctx))
    repeats(now, ctx, notifications, decisions, fx.held)
    fx.ticked_at = now
    released(now, ctx, notifications, decisions, fx.held)
    fx.notifications.extend(notifications)
    fx.decisions.extend(decisions)
    return work.with_(effects=fx.freeze())
