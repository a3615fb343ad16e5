"""What processing an event decided: the only output of the stages.

The stages read the active-alert view and return Effects; `ActiveAlerts.apply`
and the store writer are the only places that act on them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, get_args

from ..config.bundle import FlapPolicy, NotifyAction, Rule
from ..events import Decision
from ..frozen import quick_init
from ..model import HistoryAction, RawEvent, Status, StoredAlert

if TYPE_CHECKING:
    from .commands import CommandAnswer, OperatorCommand
    from .silencing import SilenceAnswer, SilenceChange


# What a Change records: its history action (model.HistoryAction, the one list), or FLAPPING,
# the flapping mark moving: a change of the row only, without a history row (the trail says it).
FLAPPING: Final = "flapping"
ChangeAction = HistoryAction | Literal["flapping"]
GroupKey = tuple[str, ...]  # a correlate action's group_by values
Actions = tuple[tuple[Rule, NotifyAction], ...]  # the notify actions of the rules that matched


@quick_init
@dataclass(frozen=True)
class Change:
    """A status change of an existing alert (the alert as it is after the change)."""

    alert: StoredAlert
    action: ChangeAction
    old_status: Status
    command: "OperatorCommand | None" = None  # an operator's change: who, and the note


# Notification kinds, the one list: the first word about an alert; a `repeat_interval`
# reminder; a rule newly matched because the alert's severity rose; a notification held back
# (silence, throttle, flapping) going out now; the all-clear; "now suppressed under X" (an
# alert already notified was linked under a root cause that arrived after it, the lookback);
# an operator acknowledged it (sent to PagerDuty channels only, which stop escalating the
# incident). A Literal, not an Enum: the stored and sent strings stay plain str (no cost per
# notification) while mypy refuses a misspelt kind wherever one is typed NotificationKind.
# TELLS: the kinds that tell of a problem (they page, start throttles and repeat_interval,
# and make a channel one that was told); the others page nobody.
NotificationKind = Literal["firing", "repeat", "escalated", "released", "resolved", "suppressed", "acknowledged"]
KINDS: Final[tuple[NotificationKind, ...]] = get_args(NotificationKind)
FIRING: Final[NotificationKind] = "firing"
REPEAT: Final[NotificationKind] = "repeat"
ESCALATED: Final[NotificationKind] = "escalated"
RELEASED: Final[NotificationKind] = "released"
RESOLVED: Final[NotificationKind] = "resolved"
SUPPRESSED: Final[NotificationKind] = "suppressed"
ACKNOWLEDGED: Final[NotificationKind] = "acknowledged"
TELLS: Final[frozenset[NotificationKind]] = frozenset({FIRING, REPEAT, ESCALATED, RELEASED})


@quick_init
@dataclass(frozen=True)
class Notification:
    alert: StoredAlert
    rule: str
    channel: str
    kind: NotificationKind
    at: datetime
    action: NotifyAction | None = None


# What an event leaves for the view to remember (ActiveAlerts.apply reads them). NamedTuples:
# built on the hot path, a tuple's cost with names to read them by.

class WindowEntry(NamedTuple):
    """An alert entered a correlation rule's window for its group, until `at` + `window` s."""

    rule: str
    key: GroupKey
    at: datetime
    alert_id: str
    window: float


class GroupParent(NamedTuple):
    """The parent that leads a correlation rule's group, and when a member last joined it
    (the group's window is open while members keep joining within the rule's window)."""

    rule: str
    key: GroupKey
    parent_id: str
    joined: datetime


class Reevaluation(NamedTuple):
    """A child whose root closed is looked at again at `due`; None: done, forget it."""

    child_id: str
    due: datetime | None


class HeldActions(NamedTuple):
    """Every notify action now held back for an alert (silence, throttle, flapping); () = none."""

    alert_id: str
    actions: Actions


class ClearSeen(NamedTuple):
    """A clear of the fingerprint happened at `occurred_at` (an older problem arriving after it is over)."""

    fingerprint: str
    occurred_at: datetime


class FlapChange(NamedTuple):
    """The fingerprint's state changed at `at` (raised or cleared), counted under `policy`."""

    fingerprint: str
    at: datetime
    policy: FlapPolicy


@quick_init
@dataclass(frozen=True)
class Effects:
    event: RawEvent | None
    created: tuple[StoredAlert, ...] = ()
    occurrences: tuple[StoredAlert, ...] = ()
    changes: tuple[Change, ...] = ()
    decisions: tuple[Decision, ...] = ()
    notifications: tuple[Notification, ...] = ()
    window_entries: tuple[WindowEntry, ...] = ()
    parents: tuple[GroupParent, ...] = ()
    reevaluate: tuple[Reevaluation, ...] = ()
    held: tuple[HeldActions, ...] = ()
    dropped: int = 0  # 1 when the connector discards this event entirely (not even stored raw)
    ticked_at: datetime | None = None  # a tick's time: the repeat wake-ups due by then were looked at,
    # and window entries and throttles that expired before it go
    external: tuple[StoredAlert, ...] = ()  # alerts the view forgets, nothing stored (the writer could not store them)
    clears_seen: tuple[ClearSeen, ...] = ()
    flap_changes: tuple[FlapChange, ...] = ()
    silences: "tuple[SilenceChange, ...]" = ()  # ad-hoc silences an operator created or ended (pipeline/silencing.py)
    answer: "CommandAnswer | SilenceAnswer | None" = None  # an operator command's, answered once the batch is committed

    def with_(self, **changes: Any) -> "Effects":
        new = object.__new__(Effects)
        new.__dict__.update(self.__dict__, **changes)
        return new


_LISTS = ("created", "occurrences", "changes", "decisions", "notifications", "window_entries", "parents",
          "reevaluate", "held", "external", "clears_seen", "flap_changes", "silences")
_DEFAULTS = {name: f.default for name, f in Effects.__dataclass_fields__.items()}


class EffectsBuilder:
    """Mutable accumulator a stage fills; frozen into Effects at the end. A plain class:
    one is made per event, and a dataclass with ten list factories costs more."""

    __slots__ = ("event", *_LISTS, "ticked_at")

    def __init__(self, event: RawEvent | None) -> None:
        self.event = event
        self.created: list[StoredAlert] = []
        self.occurrences: list[StoredAlert] = []
        self.changes: list[Change] = []
        self.decisions: list[Decision] = []
        self.notifications: list[Notification] = []
        self.window_entries: list[WindowEntry] = []
        self.parents: list[GroupParent] = []
        self.reevaluate: list[Reevaluation] = []
        self.held: list[HeldActions] = []
        self.external: list[StoredAlert] = []
        self.clears_seen: list[ClearSeen] = []
        self.flap_changes: list[FlapChange] = []
        self.silences: list[SilenceChange] = []
        self.ticked_at: datetime | None = None

    def freeze(self, dropped: int = 0) -> Effects:
        """The Effects, built without the frozen dataclass's per-field __setattr__."""
        new = object.__new__(Effects)
        values = dict(_DEFAULTS)
        for name in _LISTS:
            items = getattr(self, name)
            if items:
                values[name] = tuple(items)
        values.update(event=self.event, ticked_at=self.ticked_at, dropped=dropped)
        new.__dict__.update(values)
        return new
