"""Stage 3: dedup, clears, dependency suppression, rule suppression and windowed correlation.

Decides each candidate's fate against the open-alert view and records why, naming
the rule (or dependency, or OID map) that decided.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..config.bundle import CorrelateAction, Rule
from ..config.durations import format_duration
from ..config.templates import render
from ..events import (Cleared, Correlated, Decision, DecisionEvent, Deduplicated, Enriched, Linked, Normalized,
                      OutOfOrder, ParentClosed, RootCause, RuleSuppressed, SeverityChanged, UnderRoot)
from ..model import Alert, HistoryAction, Status, StoredAlert, evolve, fingerprint
from ..rootcause import explains
from ..rules.fields import alert_fields
from ..config.topology import Edge
from . import flapping
from .effects import (SUPPRESSED, Change, ClearSeen, EffectsBuilder, GroupKey, GroupParent, HeldActions,
                      Notification, Reevaluation, WindowEntry)
from .route import parent_rule
from .work import Candidate, Context, Work


def correlate(work: Work, ctx: Context) -> Work:
    fx = EffectsBuilder(work.event)
    out: list[Candidate] = []
    seen_in_event: dict[str, StoredAlert] = {}
    closed: list[StoredAlert] = []
    for c in work.candidates:
        alert = c.alert
        if alert.is_clear:
            closed += _clear(alert, work, ctx, fx)
            continue
        existing = seen_in_event.get(alert.fingerprint) or ctx.state.open_alert(alert.fingerprint)
        if existing is not None:
            severity = c.outcome.alert.severity if c.outcome else existing.severity
            updated = evolve(existing, occurrence_count=existing.occurrence_count + 1, last_occurrence_at=work.now,
                              severity=severity, message=alert.message or existing.message)
            if existing.custom_fields.get("flapping"):
                updated = flapping.repeated(updated, work.now, ctx, fx)
            fx.occurrences.append(updated)
            seen_in_event[alert.fingerprint] = updated
            fx.decisions.append(_decision(updated, ctx, "dedup", Deduplicated(updated.occurrence_count)))
            if severity is not existing.severity:
                rose = severity.rank > existing.severity.rank
                fx.decisions.append(_decision(updated, ctx, "escalated" if rose else "de-escalated",
                                              SeverityChanged((existing.severity.value, severity.value))))
                if rose:
                    out.append(Candidate(updated, c.outcome, escalated_from=existing.severity))
            continue
        alert = evolve(alert, id=ctx.new_id(), last_occurrence_at=work.now)
        fx.decisions.append(_decision(alert, ctx, _normalized_by(alert),
                                      Normalized(alert.source_system, alert.alert_type)))
        if alert.root_cause:  # why it counts as one (engine/rootcause.py)
            fx.decisions.append(_decision(alert, ctx, (alert.root_cause_by or "root_cause")[:200],
                                          RootCause(alert.root_cause)))
        for hit in (c.outcome.hits if c.outcome else ()):
            fx.decisions.append(_decision(alert, ctx, hit.rule.name, Enriched(tuple(hit.changed))))
        cleared_at = ctx.state.last_clear.get(alert.fingerprint)
        if cleared_at is not None and _before(alert.occurred_at, cleared_at):
            # It arrived after the clear that ended it: kept for the record, told to no one.
            alert = evolve(alert, status=Status.RESOLVED)
            fx.decisions.append(_decision(alert, ctx, "out-of-order", OutOfOrder(
                cleared_at.isoformat(), occurred_at=alert.occurred_at.isoformat())))
            fx.created.append(alert)
            continue
        alert = flapping.opened(alert, c.outcome, work.now, ctx, fx)
        alert = _dependency(alert, ctx, fx)
        if alert.status is Status.ACTIVE and c.outcome and c.outcome.suppress:
            rule, reason = c.outcome.suppress
            alert = evolve(alert, status=Status.SUPPRESSED, correlation_rule=rule.name[:100])
            fx.decisions.append(_decision(alert, ctx, rule.name, RuleSuppressed(reason)))
        for rule, action in (c.outcome.correlate if c.outcome else ()):
            if alert.status is not Status.ACTIVE:
                # Already explained (under a down upstream, by a suppress rule, by another
                # parent): it is part of that story, not of a storm to announce again.
                break
            alert = _window(alert, rule, action, work, ctx, fx)
        fx.created.append(alert)
        seen_in_event[alert.fingerprint] = alert
        if alert.root_cause:
            _link_earlier_children(alert, work, ctx, fx)
            if ctx.state.parent_keys:
                _link_parents_under(alert, work, ctx, fx)
        out.append(Candidate(alert, c.outcome))
    if closed:
        close_parents(closed, ctx, fx)
    return work.with_(candidates=tuple(out), effects=fx.freeze(dropped=work.effects.dropped))


def _before(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a < b


def _normalized_by(alert: Alert) -> str:
    return str(alert.custom_fields.get("oid_map") or f"builtin:{alert.source_system}")


def _decision(alert: StoredAlert, ctx: Context, rule: str, detail: DecisionEvent) -> Decision:
    return Decision(alert.id, rule, detail, ctx.view.version_id)


def _clear(clear: Alert, work: Work, ctx: Context, fx: EffectsBuilder) -> list[StoredAlert]:
    """Resolves the open alerts the clear clears; returns them."""
    closed = []
    for fp in clear.clear_targets:  # decided with the device identity at normalize
        if clear.occurred_at is not None:
            fx.clears_seen.append(ClearSeen(fp, clear.occurred_at))
        target = ctx.state.open_alert(fp)
        if target is None:
            continue
        if _before(clear.occurred_at, target.occurred_at):  # it ended an earlier episode, not this one
            fx.decisions.append(_decision(target, ctx, "out-of-order", OutOfOrder(
                clear.occurred_at.isoformat(), stale_clear=clear.alert_type)))
            continue
        if flapping.cleared(target, work.now, ctx, fx) is not None:
            continue  # flapping: it stays open until stable
        resolved = evolve(target, status=Status.RESOLVED)
        fx.changes.append(Change(resolved, HistoryAction.CLEARED, target.status))
        fx.decisions.append(_decision(resolved, ctx, _normalized_by(clear), Cleared(clear.alert_type, clear.title)))
        fx.reevaluate.extend(children_to_reevaluate(target.id, work.now, ctx))
        closed.append(target)
    return closed


def close_parents(closed: Sequence[StoredAlert], ctx: Context, fx: EffectsBuilder) -> None:
    """A correlation parent closes with its last open child (resolved, and `resolved` goes to
    whoever was told of it); its group is then free for a new parent."""
    gone = {a.id for a in closed}
    for parent_id in dict.fromkeys(a.correlated_to_id for a in closed if a.correlated_to_id):
        parent = ctx.state.by_id.get(parent_id)
        if parent is None or parent.source_system != "correlation":
            continue
        if ctx.state.children.get(parent_id, set()) - gone or any(a.correlated_to_id == parent_id for a in fx.created):
            continue
        resolved = evolve(parent, status=Status.RESOLVED)
        fx.changes.append(Change(resolved, HistoryAction.RESOLVED, parent.status))
        fx.decisions.append(_decision(resolved, ctx, parent_rule(parent, ctx) or "correlation", ParentClosed()))


def children_to_reevaluate(root_id: str, now: datetime, ctx: Context) -> list[Reevaluation]:
    """The children still suppressed under a root that closed, each with when to look again
    (a recovering site should not page for every camera)."""
    return [Reevaluation(child_id, settle_due(child, now, ctx)) for child_id in sorted(ctx.state.children.get(root_id, ()))
            if (child := ctx.state.by_id.get(child_id)) is not None and child.status is Status.SUPPRESSED]


def settle_due(child: Alert, now: datetime, ctx: Context) -> datetime:
    """When to look again at a child whose root closed: after the settle time of the dependency
    type it was suppressed through (dependencies.d `suppression.settle`)."""
    rule = child.correlation_rule or ""
    dtype = rule.split(":", 2)[1] if rule.startswith("dependency:") and rule.count(":") >= 2 else "default"
    return now + timedelta(seconds=ctx.view.settle(dtype))


def find_root(alert: Alert, ctx: Context, exclude: frozenset[str] = frozenset()) -> tuple[StoredAlert, Edge] | None:
    """The nearest upstream down alert (followed to its own root) and the edge that leads there."""
    for edge in ctx.view.topology.ancestors(alert.device_ip):
        down = ctx.state.down_alert_on(edge.upstream, edge.type)
        if down is not None and down.id not in exclude and down.id != alert.id:
            return ctx.state.root_of(down), edge
    return None


def dependency_rule(alert: Alert, edge: Edge, ctx: Context) -> str:
    """Names the dependency type, the symptom's device and the down upstream device."""
    name = ctx.view.device_name
    return f"dependency:{edge.type}:{name(alert.device_ip)}->{name(edge.upstream)}"[:100]


def _dependency(alert: StoredAlert, ctx: Context, fx: EffectsBuilder) -> StoredAlert:
    found = find_root(alert, ctx)
    if found is None:
        return alert
    root, edge = found
    rule = dependency_rule(alert, edge, ctx)
    alert = evolve(alert, status=Status.SUPPRESSED, correlated_to_id=root.id, correlation_rule=rule)
    fx.decisions.append(_decision(alert, ctx, rule, UnderRoot(root.id, root.title, str(edge.dependency.source))))
    return alert


def _link_earlier_children(root: StoredAlert, work: Work, ctx: Context, fx: EffectsBuilder) -> None:
    """A root cause that arrives after its symptoms (cameras report before the switch's poll):
    the active alerts below it that arrived within the lookback of their dependency type are
    linked under it. Notifications still held for them (silence, throttle, flapping) are withdrawn; whoever was
    already told gets a `suppressed` note ("now suppressed under X")."""
    state = ctx.state
    top = root
    if root.correlated_to_id and (root.correlation_rule or "").startswith("dependency:"):
        top = state.by_id.get(root.correlated_to_id) or root
    horizon = work.now - timedelta(seconds=state.recent_horizon)
    for at, child_id in reversed(state.recent):
        if at < horizon:
            break
        child = state.by_id.get(child_id)
        # A root below (a switch down before its router) is linked too, as it would be after.
        if child is None or child.status is not Status.ACTIVE or child.correlated_to_id \
                or child.device_ip == root.device_ip:
            continue
        edge = next((e for e in ctx.view.topology.ancestors(child.device_ip) if e.upstream == root.device_ip), None)
        if edge is None or not explains(root.root_cause, edge.type) \
                or child.received_at < work.now - timedelta(seconds=ctx.view.lookback(edge.type)):
            continue
        rule = dependency_rule(child, edge, ctx)
        linked = evolve(child, status=Status.SUPPRESSED, correlated_to_id=top.id, correlation_rule=rule)
        fx.changes.append(Change(linked, HistoryAction.SUPPRESSED, child.status))
        fx.decisions.append(_decision(linked, ctx, rule, UnderRoot(
            top.id, top.title, str(edge.dependency.source), lookback=format_duration(ctx.view.lookback(edge.type)))))
        if child.id in state.held:
            fx.held.append(HeldActions(child.id, ()))  # withdrawn: it never goes out
        for (rule_name, channel), action in sorted(state.notified.get(child.id, {}).items()):
            fx.notifications.append(Notification(linked, rule_name, channel, SUPPRESSED, work.now, action))


def _link_parents_under(root: StoredAlert, work: Work, ctx: Context, fx: EffectsBuilder) -> None:
    """A root cause arriving after a correlation parent formed over its symptoms: the parent
    whose open children are all below it (and within the lookback) is linked under it, so
    the outage is one story; whoever was told of the parent gets a `suppressed` note."""
    state = ctx.state
    top = root
    if root.correlated_to_id and (root.correlation_rule or "").startswith("dependency:"):
        top = state.by_id.get(root.correlated_to_id) or root
    for parent_id in list(state.parent_keys):
        parent = state.by_id.get(parent_id)
        if parent is None or parent.status is not Status.ACTIVE or parent.correlated_to_id:
            continue
        kids = [state.by_id[k] for k in state.children.get(parent_id, ()) if k in state.by_id]
        edges = [next((e for e in ctx.view.topology.ancestors(k.device_ip) if e.upstream == root.device_ip), None)
                 for k in kids]
        if not kids or any(e is None or not explains(root.root_cause, e.type) or
                           k.received_at < work.now - timedelta(seconds=ctx.view.lookback(e.type))
                           for k, e in zip(kids, edges)):
            continue
        assert edges[0] is not None  # every kid has one (checked above)
        rule = f"dependency:{edges[0].type}:{parent.correlation_rule}->{ctx.view.device_name(root.device_ip)}"[:100]
        linked = evolve(parent, status=Status.SUPPRESSED, correlated_to_id=top.id, correlation_rule=rule)
        fx.changes.append(Change(linked, HistoryAction.SUPPRESSED, parent.status))
        fx.decisions.append(_decision(linked, ctx, rule, UnderRoot(top.id, top.title, children=len(kids))))
        if parent_id in state.held:
            fx.held.append(HeldActions(parent_id, ()))  # withdrawn: it never goes out
        for (rule_name, channel), action in sorted(state.notified.get(parent_id, {}).items()):
            fx.notifications.append(Notification(linked, rule_name, channel, SUPPRESSED, work.now, action))


def _window(alert: StoredAlert, rule: Rule, action: CorrelateAction, work: Work, ctx: Context,
            fx: EffectsBuilder) -> StoredAlert:
    """Counts the alert in its group's window. The window slides: it is open while matching
    alerts keep coming within `window` of the previous one. An open parent whose window is
    open takes the alert; otherwise `count` alerts within the window make a new parent (a
    parent still open from an earlier storm keeps its own members and announcement)."""
    key = group_key(alert, action, ctx)
    state = ctx.state
    horizon = work.now - timedelta(seconds=action.window)
    group = (rule.name, key)
    # This event's own earlier alerts count too (a webhook body can carry a whole storm).
    pending = {a.id: a for a in fx.created} if fx.window_entries else {}
    lead = next((p for p in reversed(fx.parents) if (p.rule, p.key) == group), None) or state.parents.get(group)
    parent = (state.by_id.get(lead.parent_id) or pending.get(lead.parent_id)) if lead is not None else None
    entry = WindowEntry(rule.name, key, work.now, alert.id, action.window)
    if parent is not None and lead is not None and lead.joined >= horizon:
        fx.window_entries.append(entry)
        fx.parents.append(GroupParent(rule.name, key, parent.id, work.now))
        return _link(alert, parent, rule, ctx, fx)
    entries = [*state.windows.get(group, ()),
               *((e.at, e.alert_id) for e in fx.window_entries if (e.rule, e.key) == group)]
    fx.window_entries.append(entry)
    recent = [m for t, i in entries if t >= horizon and (m := state.by_id.get(i) or pending.get(i)) is not None]
    members = [m for m in recent if m.correlated_to_id is None and m.status is not Status.RESOLVED] + [alert]
    if len(members) < action.count:
        return alert
    parent = _parent(alert, members, rule, action, key, work.now, ctx)
    fx.created.append(parent)
    fx.parents.append(GroupParent(rule.name, key, parent.id, work.now))
    fx.decisions.append(_decision(parent, ctx, rule.name, Correlated(len(members), format_duration(action.window), key)))
    for member in members[:-1]:
        linked = evolve(member, status=Status.SUPPRESSED, correlated_to_id=parent.id, correlation_rule=rule.name[:100])
        if member.id in pending:  # new in this very event: stored linked
            fx.created[fx.created.index(member)] = linked
        else:
            fx.changes.append(Change(linked, HistoryAction.SUPPRESSED, member.status))
        fx.decisions.append(_decision(linked, ctx, rule.name, Linked(parent.id)))
    return _link(alert, parent, rule, ctx, fx)


def group_key(alert: Alert, action: CorrelateAction, ctx: Context) -> GroupKey:
    fields = alert_fields(alert, ctx.view.site(alert.device_ip))
    return tuple(str(fields.get(f)) for f in action.group_by)


def restore_windows(now: datetime, ctx: Context, fx: EffectsBuilder) -> None:
    """At start, after the open alerts are rebuilt: what windowed correlation kept in memory
    only, from what is stored. Each open parent leads its group again (the rule from its
    children, the group key from their fields, last joined when the newest child came), so
    the rest of a storm that goes on across a restart joins it instead of being announced
    a second time, and a parent linked under a root still knows its rule when it closes.
    Alerts of the last `window` that entered a correlation window enter it again, so `count`
    still counts the ones that came just before the restart."""
    state = ctx.state
    for parent in [a for a in state.by_id.values() if a.source_system == "correlation"]:
        children = sorted((c for c in (state.by_id.get(i) for i in state.children.get(parent.id, ())) if c is not None
                           and c.correlation_rule and not c.correlation_rule.startswith("dependency:")),
                          key=lambda c: (c.received_at, c.id))
        rule = ctx.rules.rule(children[0].correlation_rule or "") if children else None
        if rule is None or rule.correlate is None:
            continue  # its rule is gone from this config version: it closes with its children
        key = group_key(children[0], rule.correlate, ctx)
        joined = max(c.received_at for c in children)
        current = state.parents.get((rule.name, key))
        if current is None or current.joined <= joined:
            fx.parents.append(GroupParent(rule.name, key, parent.id, joined))
    longest = max((r.correlate.window for r in ctx.view.bundle.rules if r.correlate), default=0.0)
    since = now - timedelta(seconds=longest)
    entered = [a for a in state.by_id.values() if a.received_at >= since and a.source_system != "correlation"
               and (a.status in (Status.ACTIVE, Status.ACKNOWLEDGED) or _in_storm(a, state))]
    for alert in sorted(entered, key=lambda a: (a.received_at, a.id)):
        for rule, action in ctx.rules.evaluate(alert, ctx.view.site(alert.device_ip), now).correlate:
            if alert.received_at >= now - timedelta(seconds=action.window):
                fx.window_entries.append(WindowEntry(rule.name, group_key(alert, action, ctx), alert.received_at,
                                                     alert.id, action.window))


def _in_storm(alert: StoredAlert, state: Any) -> bool:
    """Suppressed as a member of a correlation parent (it went through a window), not under a root."""
    parent = state.by_id.get(alert.correlated_to_id) if alert.correlated_to_id else None
    return alert.status is Status.SUPPRESSED and parent is not None and parent.source_system == "correlation"


def _link(alert: StoredAlert, parent: StoredAlert, rule: Rule, ctx: Context, fx: EffectsBuilder) -> StoredAlert:
    if alert.correlated_to_id:
        return alert  # already explained by a dependency root
    fx.decisions.append(_decision(alert, ctx, rule.name, Linked(parent.id)))
    return evolve(alert, status=Status.SUPPRESSED, correlated_to_id=parent.id, correlation_rule=rule.name[:100])


def _parent(trigger: StoredAlert, members: list[StoredAlert], rule: Rule, action: CorrelateAction, key: GroupKey,
            now: datetime, ctx: Context) -> StoredAlert:
    devices = {m.device_ip for m in members}
    device_ip = devices.pop() if len(devices) == 1 else None
    severity = action.parent_severity or max((m.severity for m in members), key=lambda s: s.rank)
    context = {**alert_fields(trigger, ctx.view.site(trigger.device_ip)), "alert": trigger, "alerts": members,
               "rule": rule.name}
    title = (render(action.parent_title, context) if action.parent_title else
             f"{len(members)} × {trigger.alert_type} within {format_duration(action.window)} ({rule.name})")
    return StoredAlert(
        id=ctx.new_id(), source_system="correlation", source_alert_id=f"{rule.name}:{'/'.join(key)}",
        severity=severity, category=action.parent_category or trigger.category,
        alert_type=action.parent_alert_type, title=title[:255],
        message=f"Correlated by rule {rule.name}: {len(members)} alerts within {format_duration(action.window)}",
        occurred_at=trigger.occurred_at, received_at=trigger.received_at,
        # One per storm: a group whose earlier parent is still open can get a new one.
        fingerprint=fingerprint("correlation", "/".join(key), action.parent_alert_type, f"{rule.name}@{now.isoformat()}"),
        device_ip=device_ip, device_name=ctx.view.device_name(device_ip), resource_key="/".join(key),
        correlation_rule=rule.name[:100], config_version_id=ctx.view.version_id, last_occurrence_at=trigger.received_at)
