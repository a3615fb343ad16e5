"""Operators' silences as commands: an ad-hoc silence created or ended from the dashboard or
the API is an input of the pipeline like an acknowledge (pipeline/commands.py).

The web puts a CreateSilence or EndSilence on the engine's queue; the stage thread runs it
through `silence` (the stages' signature) before the events of the same batch, so the
open-alert view matches a new silence from the next event on and stops matching an ended one
at once; the row is written in that batch's transaction (store/batch.py) and the caller is
answered at the commit. The engine is the only writer of silences, as of alerts. Each change
is a typed SilenceChange (created | ended, by whom, the silence as it is after it), logged
when committed and kept in the silences table (created_by / created_at / comment,
deleted_by / deleted_at).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from .commands import Outcome
from .effects import Effects
from .silences import SilenceAction, StoredSilence, adhoc, describe_match
from .work import Context, Work

_TICK = timedelta(microseconds=1)  # the table's CHECK (ends_at > starts_at): an upcoming silence ended ends here


@dataclass(frozen=True)
class CreateSilence:
    """A new ad-hoc silence; its number was reserved from the database's sequence by whoever
    issues the command (Engine.silence_id; a rule test counts)."""

    silence_id: int
    matchers: Mapping[str, Any]  # as a rule's `match` writes them (pipeline/silences.parse_match)
    starts_at: datetime
    ends_at: datetime
    by: str  # created_by: the token's or session's name
    comment: str


@dataclass(frozen=True)
class EndSilence:
    """End a running (or upcoming) ad-hoc silence now."""

    silence_id: int
    by: str  # deleted_by


SilenceCommand = CreateSilence | EndSilence


@dataclass(frozen=True)
class SilenceChange:
    """What a silence command changed: the one record the view applies, the store writes and
    the log says."""

    action: SilenceAction
    silence: StoredSilence  # as it is after the change
    before: StoredSilence | None = None  # ENDED: as it was (the view goes back to it if the write fails)

    def describe(self) -> str:
        s = self.silence
        if self.action is SilenceAction.ENDED:
            return f"silence {s.name} ended by {s.deleted_by} (it ran from {s.starts_at.isoformat()})"
        match = ", ".join(describe_match(adhoc(s).match))
        return (f"silence {s.name} created by {s.created_by}: {match}, {s.starts_at.isoformat()} →"
                f" {s.ends_at.isoformat()} ({s.comment})")


@dataclass(frozen=True)
class SilenceAnswer:
    command: SilenceCommand
    outcome: Outcome  # APPLIED; NOT_OPEN (end: no running or upcoming silence has the id: unknown, or
    # ended already); REFUSED (create: not valid now, `reason` says why)
    change: SilenceChange | None = None  # APPLIED
    reason: str = ""  # REFUSED
    field: str = ""  # REFUSED: the body's field at fault

    @property
    def silence(self) -> StoredSilence | None:
        return self.change.silence if self.change is not None else None


def silence(work: Work, ctx: Context) -> Work:
    """The silence command stage; other commands pass through."""
    cmd = work.command
    if isinstance(cmd, CreateSilence):
        return _answer(work, _create(cmd, work.now, ctx))
    if isinstance(cmd, EndSilence):
        return _answer(work, _end(cmd, work.now, ctx))
    return work


def _create(cmd: CreateSilence, now: datetime, ctx: Context) -> SilenceAnswer:
    made = StoredSilence(cmd.silence_id, dict(cmd.matchers), cmd.starts_at, cmd.ends_at, cmd.by, cmd.comment,
                         created_at=now)
    try:
        adhoc(made)  # the matchers as the engine will match them (the API checked them already)
    except ValueError as exc:
        return SilenceAnswer(cmd, Outcome.REFUSED, reason=str(exc), field="matchers")
    if cmd.ends_at <= cmd.starts_at or cmd.ends_at <= now:
        return SilenceAnswer(cmd, Outcome.REFUSED, reason="the silence must end after it starts, and in the"
                             " future", field="ends_at")
    if cmd.silence_id in ctx.state.silences:
        return SilenceAnswer(cmd, Outcome.REFUSED, reason=f"silence {made.name} exists already",
                             field="silence_id")
    return SilenceAnswer(cmd, Outcome.APPLIED, SilenceChange(SilenceAction.CREATED, made))


def _end(cmd: EndSilence, now: datetime, ctx: Context) -> SilenceAnswer:
    running = ctx.state.silences.get(cmd.silence_id)
    if running is None or running.ends_at <= now:
        return SilenceAnswer(cmd, Outcome.NOT_OPEN)
    ended = replace(running, deleted_at=now, deleted_by=cmd.by,
                    ends_at=max(running.starts_at + _TICK, min(running.ends_at, now)))
    return SilenceAnswer(cmd, Outcome.APPLIED, SilenceChange(SilenceAction.ENDED, ended, running))


def _answer(work: Work, answer: SilenceAnswer) -> Work:
    changes = (answer.change,) if answer.change is not None else ()
    return work.with_(effects=Effects(None, silences=changes, answer=answer))


def undone(change: SilenceChange) -> SilenceChange:
    """The change that puts the view back as it was, when the write of `change` failed."""
    if change.action is SilenceAction.CREATED:
        return SilenceChange(SilenceAction.ENDED, replace(change.silence, deleted_at=change.silence.created_at))
    assert change.before is not None  # an ENDED change keeps what it ended
    return SilenceChange(SilenceAction.CREATED, change.before)
