"""The one signature every stage has: `stage(work, ctx) -> work`."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from ..frozen import quick_init
from ..model import Alert, RawEvent, Severity
from ..rules.engine import RuleEngine, RuleOutcome
from .context import ConfigView, Normalizer
from .effects import Effects
from .state import ActiveAlerts

if TYPE_CHECKING:
    from .commands import OperatorCommand
    from .silencing import SilenceCommand


@quick_init
@dataclass(frozen=True)
class Candidate:
    alert: Alert
    outcome: RuleOutcome | None = None  # set by enrich for alerts that are new, and repeats whose severity moved
    escalated_from: Severity | None = None  # set by correlate: a repeat raised the open alert's severity


@quick_init
@dataclass(frozen=True)
class Work:
    event: RawEvent | None
    now: datetime
    candidates: tuple[Candidate, ...] = ()
    effects: Effects = field(default_factory=lambda: Effects(None))
    # an operator's, instead of an event (pipeline/commands.py, pipeline/silencing.py)
    command: "OperatorCommand | SilenceCommand | None" = None

    def with_(self, **changes: Any) -> "Work":
        """dataclasses.replace without re-running __init__ (every stage makes one per event)."""
        new = object.__new__(Work)
        new.__dict__.update(self.__dict__, **changes)
        return new


@dataclass(frozen=True)
class Context:
    """What stages read: the config version, its rules and the open-alert view."""

    view: ConfigView
    rules: RuleEngine
    state: ActiveAlerts
    normalizers: Mapping[str, Normalizer]  # source_system → its normalizer
    new_id: Callable[[], str]


class Stage(Protocol):
    def __call__(self, work: Work, ctx: Context) -> Work: ...
