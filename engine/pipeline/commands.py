"""Operators' commands: acknowledge and resolve, from the dashboard or the API.

A command is an input of the pipeline like an event: the web puts it on the engine's queue
(PipelineWorker.command), the stage thread runs it through `operate` (the stages' signature,
`stage(work, ctx) -> work`) before the events of the same batch, and the change is written
in that batch's transaction with its history row (who, the note). The caller is answered
once the batch is committed; a command the open-alert view refuses is answered at once.
The engine is the only writer of alerts: nothing else changes one behind its view.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..model import HistoryAction, Status, evolve
from .correlate import children_to_reevaluate, close_parents
from .effects import Change, EffectsBuilder
from .route import acknowledged, resolved
from .work import Context, Work


class Verb(str, Enum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


# The status a command moves an alert to, its history action, and the statuses it may come from.
_MOVES = {Verb.ACKNOWLEDGE: (Status.ACKNOWLEDGED, HistoryAction.ACKNOWLEDGED, (Status.ACTIVE,)),
          Verb.RESOLVE: (Status.RESOLVED, HistoryAction.RESOLVED, (Status.ACTIVE, Status.ACKNOWLEDGED, Status.SUPPRESSED))}


@dataclass(frozen=True)
class OperatorCommand:
    alert_id: str
    verb: Verb
    user_id: str | None  # who, as recorded in alert_history (the token's or session's name)
    user_name: str | None
    note: str | None = None


class Outcome(str, Enum):
    APPLIED = "applied"  # written, with its history row
    NOT_OPEN = "not_open"  # no open alert has this id (unknown, or resolved already)
    REFUSED = "refused"  # open, but not in a status the command applies to (acknowledging a suppressed alert)


@dataclass(frozen=True)
class CommandAnswer:
    command: OperatorCommand
    outcome: Outcome
    old_status: Status | None = None  # the alert's status before (NOT_OPEN: unknown to the view)
    new_status: Status | None = None

    @property
    def action(self) -> str:
        """The history action: acknowledged | resolved."""
        return _MOVES[self.command.verb][1].value


def operate(work: Work, ctx: Context) -> Work:
    """The command stage: the change, and what follows from it as from a clear (a resolve
    tells whoever was told, closes a correlation parent with its last child, and looks at the
    children suppressed under it again after the settle time; an acknowledge tells PagerDuty
    channels and stops `repeat_interval`)."""
    cmd = work.command
    if not isinstance(cmd, OperatorCommand):  # a silence's: pipeline/silencing.py
        return work
    to, action, allowed = _MOVES[cmd.verb]
    alert = ctx.state.by_id.get(cmd.alert_id)
    if alert is None:
        return work.with_(effects=work.effects.with_(answer=CommandAnswer(cmd, Outcome.NOT_OPEN)))
    if alert.status not in allowed:
        return work.with_(effects=work.effects.with_(
            answer=CommandAnswer(cmd, Outcome.REFUSED, alert.status, alert.status)))
    fx = EffectsBuilder(None)
    changed = evolve(alert, status=to)
    fx.changes.append(Change(changed, action, alert.status, cmd))
    if to is Status.RESOLVED:
        resolved(changed, work.now, ctx, fx.notifications, fx.decisions)
        fx.reevaluate.extend(children_to_reevaluate(alert.id, work.now, ctx))
        before = len(fx.changes)
        close_parents([alert], ctx, fx)
        for change in fx.changes[before:]:  # a correlation parent closed with its last child
            resolved(change.alert, work.now, ctx, fx.notifications, fx.decisions)
    else:
        acknowledged(changed, work.now, ctx, fx.notifications, fx.decisions)
    effects = fx.freeze().with_(answer=CommandAnswer(cmd, Outcome.APPLIED, alert.status, to))
    return work.with_(effects=effects)
