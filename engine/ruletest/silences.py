"""Silences an operator creates and ends in a rule test: commands the pipeline applies, as
`opsc serve` applies POST and DELETE /api/v1/silences (pipeline/silencing.py), numbered as
the database would number them; what the database would hold is kept for a `restart`."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping

from ..config.durations import parse_duration
from ..pipeline.commands import Outcome
from ..pipeline.effects import Effects
from ..pipeline.pipeline import Pipeline
from ..pipeline.silences import StoredSilence
from ..pipeline.silencing import CreateSilence, EndSilence, SilenceAnswer
from ..pipeline.state import ActiveAlerts
from .inputs import plain


class Silences:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}  # the test's name for a silence → its number
        self.stored: dict[int, StoredSilence] = {}  # as the database would hold them

    def create(self, pipeline: Pipeline, spec: Mapping[str, Any], now: datetime) -> tuple[StoredSilence, Effects]:
        """POST /api/v1/silences: starts now, ends `for` later. ValueError: what the API refuses."""
        until = now + timedelta(seconds=parse_duration(spec["for"]))
        fx = pipeline.command(CreateSilence(len(self.stored) + 1, plain(spec["match"]), now, until,
                                            str(spec.get("owner", "rule-test")), str(spec.get("comment", ""))), now)
        answer = _answer(fx)
        if answer.outcome is not Outcome.APPLIED or answer.silence is None:
            raise ValueError(answer.reason)
        self.ids[spec["name"]] = answer.silence.id
        self.stored[answer.silence.id] = answer.silence
        return answer.silence, fx

    def end(self, pipeline: Pipeline, name: str, now: datetime) -> tuple[StoredSilence | None, Effects]:
        """DELETE /api/v1/silences/{id}: ended now (None when it was over already)."""
        fx = pipeline.command(EndSilence(self.ids[name], "rule-test"), now)
        ended = _answer(fx).silence
        if ended is not None:
            self.stored[ended.id] = ended
        return ended, fx

    def restore(self, state: ActiveAlerts, now: datetime) -> None:
        """What `opsc serve` loads at start (store.silences.live): those not ended."""
        state.set_silences(s for s in self.stored.values() if s.deleted_at is None and s.ends_at > now)


def _answer(fx: Effects) -> SilenceAnswer:
    assert isinstance(fx.answer, SilenceAnswer)  # the answer to a silence command
    return fx.answer
