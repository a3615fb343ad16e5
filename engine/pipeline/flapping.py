"""Flap detection, as Icinga and OpenNMS do it: `changes` state changes of one fingerprint
(a problem raised, a problem cleared) within `window` mark its alert flapping. It is then
one alert with a count: its clears keep it open, its recurrences are occurrences, and
nobody is told (notifications are held) until it has had no change for `stable`. Then it
ends as it stands: still down, it stays open and what was held goes out (`released`); up,
it is resolved and `resolved` goes to whoever was told of it before it flapped.

Off unless a rule (`flapping:`) or the alert's connector sets a policy; a rule wins. The
mark is in the alert's custom fields (`flapping`, `flap_count`, `flap_state`,
`flap_last`), stored with it and shown on the alert page.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config.bundle import FlapPolicy
from ..events import Decision, DecisionEvent, FlapEnded, FlapStarted
from ..model import Alert, HistoryAction, Status, StoredAlert, evolve
from ..rules.engine import RuleOutcome
from .effects import FLAPPING, RELEASED, Change, EffectsBuilder, FlapChange, HeldActions, Notification
from .route import firing, resolved
from .work import Context

PROBLEM, CLEAR = "problem", "clear"


def policy_for(alert: Alert, outcome: RuleOutcome | None, ctx: Context) -> FlapPolicy | None:
    for hit in (outcome.hits if outcome else ()):
        if hit.rule.flapping is not None:
            return hit.rule.flapping
    connector = ctx.view.connectors.get(alert.connector or "")
    return connector.flapping if connector is not None else None


def _policy_of_open(alert: Alert, now: datetime, ctx: Context) -> FlapPolicy | None:
    """The policy for an alert already open (its rules' answer is not kept): the rules are
    asked again only when some rule sets one."""
    outcome = None
    if ctx.view.rules_with_flapping:
        outcome = ctx.rules.evaluate(alert, ctx.view.site(alert.device_ip), now)
    return policy_for(alert, outcome, ctx)


def _marked(alert: StoredAlert, flapping: bool, count: int, state: str, now: datetime) -> StoredAlert:
    fields: dict[str, Any] = {**alert.custom_fields, "flapping": flapping, "flap_count": count, "flap_state": state,
                              "flap_last": now.isoformat()}
    return evolve(alert, custom_fields=fields)


def _decision(alert: StoredAlert, ctx: Context, detail: DecisionEvent) -> Decision:
    return Decision(alert.id, "flapping", detail, ctx.view.version_id)


def opened(alert: StoredAlert, outcome: RuleOutcome | None, now: datetime, ctx: Context,
           fx: EffectsBuilder) -> StoredAlert:
    """A new alert for its fingerprint is a state change; the alert comes back marked
    flapping when it is one change too many. A fingerprint is tracked from its first clear
    on (one raised and never cleared costs nothing here)."""
    track = ctx.state.flaps.get(alert.fingerprint)
    if track is None:
        return alert
    policy = policy_for(alert, outcome, ctx) or track.policy
    fx.flap_changes.append(FlapChange(alert.fingerprint, now, policy))
    count = track.within(now) + 1
    if count < policy.changes:
        return alert
    fx.decisions.append(_decision(alert, ctx, FlapStarted(count, policy.window)))
    return _marked(alert, True, count, PROBLEM, now)


def cleared(target: StoredAlert, now: datetime, ctx: Context, fx: EffectsBuilder) -> StoredAlert | None:
    """A clear of an open alert is a state change. Returns the alert kept open as flapping
    (the clear then resolves nothing), or None when the clear resolves it as usual."""
    track = ctx.state.flaps.get(target.fingerprint)
    policy: FlapPolicy | None
    if track is not None:
        policy, before = track.policy, track.within(now)
    else:  # its first clear: the raise it ends was the first change
        policy = _policy_of_open(target, now, ctx)
        if policy is None:
            return None
        fx.flap_changes.append(FlapChange(target.fingerprint, target.received_at, policy))
        before = 1 if target.received_at >= now - timedelta(seconds=policy.window) else 0
    fx.flap_changes.append(FlapChange(target.fingerprint, now, policy))
    if target.custom_fields.get("flapping"):
        count = int(target.custom_fields.get("flap_count") or 0) + 1
    else:
        count = before + 1
        if count < policy.changes:
            return None
        fx.decisions.append(_decision(target, ctx, FlapStarted(count, policy.window)))
    kept = _marked(target, True, count, CLEAR, now)
    fx.changes.append(Change(kept, FLAPPING, target.status))
    return kept


def repeated(alert: StoredAlert, now: datetime, ctx: Context, fx: EffectsBuilder) -> StoredAlert:
    """A problem repeating on a flapping alert that was last seen clear: a state change."""
    if not alert.custom_fields.get("flapping") or alert.custom_fields.get("flap_state") != CLEAR:
        return alert
    track = ctx.state.flaps.get(alert.fingerprint)
    if track is not None:
        fx.flap_changes.append(FlapChange(alert.fingerprint, now, track.policy))
    again = _marked(alert, True, int(alert.custom_fields.get("flap_count") or 0) + 1, PROBLEM, now)
    fx.changes.append(Change(again, FLAPPING, alert.status))
    return again


def settled(now: datetime, ctx: Context, fx: EffectsBuilder, notifications: list[Notification],
            decisions: list[Decision]) -> list[StoredAlert]:
    """Flapping alerts without a change for their policy's `stable` end flapping. Returns
    the ones that end resolved (their parents may close)."""
    closed = []
    for alert_id in sorted(ctx.state.flapping):
        alert = ctx.state.by_id.get(alert_id)
        if alert is None:
            continue
        last = _last_change(alert, ctx)
        policy = _policy_now(alert, now, ctx)
        if last is None or policy is None or now - last < timedelta(seconds=policy.stable):
            continue
        state = alert.custom_fields.get("flap_state")
        quiet = evolve(alert, custom_fields={**alert.custom_fields, "flapping": False})
        decisions.append(_decision(alert, ctx, FlapEnded(policy.stable, state)))
        if state == CLEAR:
            done = evolve(quiet, status=Status.RESOLVED)
            fx.changes.append(Change(done, HistoryAction.CLEARED, alert.status))
            resolved(done, now, ctx, notifications, decisions)
            closed.append(alert)
            continue
        fx.changes.append(Change(quiet, FLAPPING, alert.status))
        held = ctx.state.held.get(alert_id, ())
        if held:
            fx.held.append(HeldActions(alert_id, ()))
            firing(quiet, held, now, ctx, notifications, decisions, fx.held, RELEASED)
    return closed


def _last_change(alert: Alert, ctx: Context) -> datetime | None:
    track = ctx.state.flaps.get(alert.fingerprint)
    if track is not None and track.times:
        return track.times[-1]
    text = alert.custom_fields.get("flap_last")  # after a restart: what the alert says
    try:
        return datetime.fromisoformat(str(text)) if text else alert.last_occurrence_at
    except ValueError:
        return alert.last_occurrence_at


def _policy_now(alert: Alert, now: datetime, ctx: Context) -> FlapPolicy | None:
    track = ctx.state.flaps.get(alert.fingerprint)
    if track is not None:
        return track.policy
    return _policy_of_open(alert, now, ctx)  # after a restart: the policy as the config says now


def times_next(ctx: Context) -> list[datetime]:
    """When flapping alerts become stable, for clocks that sleep until the next thing to do."""
    out = []
    for alert_id in ctx.state.flapping:
        alert = ctx.state.by_id.get(alert_id)
        track = ctx.state.flaps.get(alert.fingerprint) if alert is not None else None
        if track is not None and track.times:
            out.append(track.times[-1] + timedelta(seconds=track.policy.stable))
    return out
