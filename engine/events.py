"""What the engine decided about an alert, as typed events: the one language of the decision
trail (table alert_decisions) and of the history (alert_history).

Each decision kind is a frozen dataclass with one encoder (`encode`: the JSONB `detail` the
store writes), one decoder (`decode`: a stored row back to the kind) and one `describe`: the
sentence `opsc explain`, the alert page and replay's trail all show. The encoded detail
names its kind (`"kind"`); rows written before it did are recognised by their keys, here and
nowhere else (databases in the field hold them).

The history's list of actions is `model.HistoryAction` (the migrations' CHECK constraint
allows exactly those); `describe_history` is its one sentence.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Final, Literal, Mapping, get_args

from .config.durations import format_duration
from .frozen import quick_init
from .model import EMPTY, HistoryAction, Status

# The pipeline stages that decide (alert_decisions.stage): a Literal, so a kind's STAGE and a
# comparison with a misspelt stage fail mypy; the rows keep the plain strings.
StageName = Literal["normalize", "enrich", "correlate", "route"]
STAGES: Final[tuple[StageName, ...]] = get_args(StageName)
# How a trail line names what decided, per stage (explain's column, the page's label).
VERBS: Final[Mapping[str, str]] = MappingProxyType({
    "normalize": "normalized by", "enrich": "matched rule", "correlate": "correlated by", "route": "routed by"})


class DecisionEvent:
    """Base of the decision kinds: each sets KIND (stored in the detail) and STAGE (the
    pipeline stage that decides it), and says its sentence. A detail is the kind and the
    fields that differ from their defaults, under the fields' names (the keys older rows
    used too)."""

    KIND: ClassVar[str]
    STAGE: ClassVar[StageName]
    _FIELDS: ClassVar[tuple[tuple[str, Any], ...]] = ()  # (name, default or _REQUIRED), set below
    __dataclass_fields__: ClassVar[dict[str, Any]]  # each kind is a dataclass

    def encode(self) -> dict[str, Any]:
        """The JSONB detail of this decision's row: what each kind's generated encoder (below)
        does, spelled as a loop."""
        detail: dict[str, Any] = {"kind": self.KIND}
        for name, default in self._FIELDS:
            value = getattr(self, name)
            if value is not default and value != default:
                detail[name] = list(value) if type(value) is tuple else value
        return detail

    @classmethod
    def _decode(cls, detail: Mapping[str, Any]) -> DecisionEvent:
        """Raises TypeError when a field without a default is missing."""
        return cls(**{name: tuple(v) if type(v) is list else v
                      for name, _ in cls._FIELDS if (v := detail.get(name)) is not None})

    def describe(self) -> str:
        raise NotImplementedError


_REQUIRED = object()


# ---- normalize ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Normalized(DecisionEvent):
    """A raw event became this alert (the rule is the OID map or built-in normalizer)."""

    KIND = "normalized"
    STAGE = "normalize"
    source_system: str
    alert_type: str

    def describe(self) -> str:
        return f"a {self.alert_type} alert from {self.source_system}"


_ROOT_KINDS = {"device_down": "network, logical and service", "power_down": "power"}


@dataclass(frozen=True)
class RootCause(DecisionEvent):
    """The alert explains the alerts of what depends on its device (engine/rootcause.py);
    the rule says what decided it."""

    KIND = "root_cause"
    STAGE = "normalize"
    root_cause: str

    def describe(self) -> str:
        return (f"root cause ({self.root_cause}): alerts of what depends on this device through "
                f"{_ROOT_KINDS.get(self.root_cause, self.root_cause)} dependencies are suppressed under it")


# ---- enrich ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Enriched(DecisionEvent):
    """An enrich rule matched; `changed`: the fields it set (none: it only matched)."""

    KIND = "enriched"
    STAGE = "enrich"
    changed: tuple[str, ...] = ()

    def describe(self) -> str:
        return "set " + ", ".join(self.changed) if self.changed else "matched (set nothing)"


# ---- correlate ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Deduplicated(DecisionEvent):
    """The event repeated an open alert. The store keeps one per alert per batch, with how
    many repeats of that batch it stands for (`occurrences`)."""

    KIND = "dedup"
    STAGE = "correlate"
    occurrence_count: int
    occurrences: int = 1

    def describe(self) -> str:
        batch = f", {self.occurrences} repeats in one batch" if self.occurrences > 1 else ""
        return f"deduplicated (occurrence {self.occurrence_count}{batch})"


@dataclass(frozen=True)
class SeverityChanged(DecisionEvent):
    """A repeat came with another severity: (before, after); the rule is `escalated` or
    `de-escalated`."""

    KIND = "severity"
    STAGE = "correlate"
    severity: tuple[str, str]

    def describe(self) -> str:
        return f"severity {self.severity[0]} → {self.severity[1]}"


@dataclass(frozen=True)
class OutOfOrder(DecisionEvent):
    """Time order broken: the alert occurred before the clear that ended it (kept resolved,
    told to no one), or a clear (`stale_clear`, its alert type) ended an earlier episode."""

    KIND = "out_of_order"
    STAGE = "correlate"
    cleared_at: str
    occurred_at: str | None = None
    stale_clear: str | None = None

    def describe(self) -> str:
        if self.stale_clear is not None:
            return f"out of order: a {self.stale_clear} clear of {self.cleared_at} ended an earlier episode, ignored"
        return f"out of order: a clear of {self.cleared_at} came first"


@dataclass(frozen=True)
class RuleSuppressed(DecisionEvent):
    """A suppress rule matched (`suppressed`: its reason); `reason` when it was decided again
    (its root cleared and the rule still suppresses it)."""

    KIND = "suppressed"
    STAGE = "correlate"
    suppressed: str
    reason: str | None = None

    def describe(self) -> str:
        return f"suppressed: {self.suppressed}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Cleared(DecisionEvent):
    """A clear event resolved it (`cleared_by`: the clear's alert type; the rule: its OID map)."""

    KIND = "cleared"
    STAGE = "correlate"
    cleared_by: str
    title: str = ""

    def describe(self) -> str:
        return f"cleared by {self.cleared_by} ({self.title})"


@dataclass(frozen=True)
class ParentClosed(DecisionEvent):
    """A correlation parent resolved with its last open child."""

    KIND = "parent_closed"
    STAGE = "correlate"
    closed: str = "its last child closed"

    def describe(self) -> str:
        return f"resolved: {self.closed}"


@dataclass(frozen=True)
class UnderRoot(DecisionEvent):
    """Suppressed under a root cause that is down (the rule names the dependency): when it
    arrived, after it (`lookback`), as a parent with its `children`, or relinked to another
    root when its own cleared."""

    KIND = "under_root"
    STAGE = "correlate"
    suppressed_under: str
    root_title: str | None = None
    dependency: str | None = None  # where the dependency is declared (file:line)
    lookback: str | None = None  # linked after it arrived, within this lookback
    children: int | None = None  # a correlation parent linked with its open children

    def describe(self) -> str:
        text = f"suppressed under {self.suppressed_under}" + (f" ({self.root_title})" if self.root_title else "")
        if self.children is not None:
            text += f" with its {self.children} open children"
        if self.lookback is not None:
            text += f", which arrived after it (lookback {self.lookback})"
        return text + (f"; dependency {self.dependency}" if self.dependency else "")


@dataclass(frozen=True)
class Correlated(DecisionEvent):
    """A correlation parent opened over `correlated` alerts of one group within the window."""

    KIND = "correlated"
    STAGE = "correlate"
    correlated: int
    window: str
    group: tuple[str, ...] = ()

    def describe(self) -> str:
        group = f" (group {', '.join(map(str, self.group))})" if self.group else ""
        return f"parent opened over {self.correlated} alerts within {self.window}{group}"


@dataclass(frozen=True)
class Linked(DecisionEvent):
    """Linked under a correlation parent."""

    KIND = "linked"
    STAGE = "correlate"
    parent: str

    def describe(self) -> str:
        return f"linked to parent {self.parent}"


@dataclass(frozen=True)
class Unsuppressed(DecisionEvent):
    """Looked at again after its root closed: still open, now on its own."""

    KIND = "unsuppressed"
    STAGE = "correlate"
    reason: str = "root cleared, still open"

    def describe(self) -> str:
        return f"unsuppressed: {self.reason}"


@dataclass(frozen=True)
class FlapStarted(DecisionEvent):
    """Too many state changes within the policy's window: marked flapping."""

    KIND = "flapping"
    STAGE = "correlate"
    changes: int
    within: float  # seconds

    def describe(self) -> str:
        return f"flapping: {self.changes} state changes within {format_duration(self.within)}"


@dataclass(frozen=True)
class FlapEnded(DecisionEvent):
    """No change for the policy's `stable` time: flapping ends, in the state it was last in."""

    KIND = "flap_ended"
    STAGE = "correlate"
    stable: float  # seconds
    ends: str | None = None  # problem | clear

    def describe(self) -> str:
        return f"stable for {format_duration(self.stable)}: flapping ends ({self.ends or '-'})"


# ---- route ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Silenced(DecisionEvent):
    """Notifications held by a silence (the rule: `silence:NAME`)."""

    KIND = "silenced"
    STAGE = "route"
    until: str | None = None  # the silence's end (ISO 8601), None: no end
    owner: str | None = None
    comment: str | None = None
    repeat: bool = False

    def describe(self) -> str:
        bits = [f"until {self.until}" if self.until else "no end"]
        bits += [f"by {self.owner}"] if self.owner else []
        bits += [str(self.comment)] if self.comment else []
        what = "repeat held" if self.repeat else "notifications held"
        return f"silenced: {what} (" + ", ".join(bits) + ")"


@dataclass(frozen=True)
class FlapHeld(DecisionEvent):
    """Notifications of these rules held while the alert flaps."""

    KIND = "flap_held"
    STAGE = "route"
    held: tuple[str, ...]
    repeat: bool = False

    def describe(self) -> str:
        return f"flapping: {'repeat' if self.repeat else 'notification'} held for {', '.join(self.held)}"


@dataclass(frozen=True)
class Throttled(DecisionEvent):
    """The rule's throttle for this fingerprint had not ended: held until then."""

    KIND = "throttled"
    STAGE = "route"
    held_until: str

    def describe(self) -> str:
        return f"throttled: held until {self.held_until}"


@dataclass(frozen=True)
class Notified(DecisionEvent):
    """These channels are told (the rule, or `resolved` / `acknowledged` for the all-clear
    and the acknowledge sent to whoever was told)."""

    KIND = "notified"
    STAGE = "route"
    notify: tuple[str, ...]
    repeat: bool = False

    def describe(self) -> str:
        return ("repeat " if self.repeat else "") + "→ " + ", ".join(self.notify)


# ---- rows nobody recognises -----------------------------------------------------------------

@dataclass(frozen=True)
class Other(DecisionEvent):
    """A stored detail of no known kind (written by hand, or by a later version): kept and
    shown as it is."""

    KIND = "other"
    STAGE = "correlate"
    detail: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def encode(self) -> dict[str, Any]:
        return dict(self.detail)

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.detail.items() if k != "kind")


KINDS: Mapping[str, type[DecisionEvent]] = MappingProxyType({k.KIND: k for k in (
    Normalized, RootCause, Enriched, Deduplicated, SeverityChanged, OutOfOrder, RuleSuppressed, Cleared,
    ParentClosed, UnderRoot, Correlated, Linked, Unsuppressed, FlapStarted, FlapEnded, Silenced, FlapHeld,
    Throttled, Notified)})
def _encoder(kind: type[DecisionEvent]) -> Callable[[DecisionEvent], dict[str, Any]]:
    """DecisionEvent.encode unrolled for one kind (as frozen.quick_init does __init__): it
    runs for every decision stored, and the loop costs about twice as much."""
    lines = ["def encode(self):", f"    d = {{'kind': {kind.KIND!r}}}"]
    namespace: dict[str, Any] = {}
    for f in fields(kind):
        value = f"list(self.{f.name})" if str(f.type).startswith("tuple") else f"self.{f.name}"
        if f.default is MISSING:
            lines.append(f"    d[{f.name!r}] = {value}")
        else:
            namespace[f"_default_{f.name}"] = f.default
            lines.append(f"    if self.{f.name} != _default_{f.name}:\n        d[{f.name!r}] = {value}")
    exec("\n".join([*lines, "    return d"]), namespace)  # noqa: S102 (the kind's own field names only)
    encode: Callable[[DecisionEvent], dict[str, Any]] = namespace["encode"]
    encode.__qualname__ = f"{kind.__qualname__}.encode"
    return encode


for _kind in KINDS.values():
    quick_init(_kind)  # made per decision on the hot path: the instance dict in one step
    _kind._FIELDS = tuple((f.name, _REQUIRED if f.default is MISSING else f.default) for f in fields(_kind))
    setattr(_kind, "encode", _encoder(_kind))  # noqa: B010 (mypy refuses assigning a method)
quick_init(Other)


def decode(stage: str, detail: Mapping[str, Any] | None) -> DecisionEvent:
    """The typed event of a stored decision; a detail of no known kind decodes to Other."""
    detail = detail or EMPTY
    kind = KINDS.get(detail.get("kind")) or _legacy_kind(stage, detail)  # type: ignore[arg-type]
    if kind is None:
        return Other(detail)
    try:
        return kind._decode(detail)
    except TypeError:  # a field missing (a hand-edited or truncated row): shown as it is
        return Other(detail)


def _legacy_kind(stage: str, d: Mapping[str, Any]) -> type[DecisionEvent] | None:
    """The kind of a detail written before details named their kind, by the keys each kind
    wrote (checked most specific first, as `opsc explain` read them)."""
    if "changed" in d or (stage == "enrich" and d.get("matched")):
        return Enriched
    if "root_cause" in d:
        return RootCause
    if "suppressed_under" in d:
        return UnderRoot
    if "parent" in d:
        return Linked
    if "occurrence_count" in d:
        return Deduplicated
    if "cleared_by" in d:
        return Cleared
    if d.get("silenced"):
        return Silenced
    if "notify" in d:
        return Notified
    if d.get("throttled"):
        return Throttled
    if isinstance(d.get("severity"), list):
        return SeverityChanged
    if "cleared_at" in d:
        return OutOfOrder
    if "suppressed" in d:
        return RuleSuppressed
    if "held" in d:
        return FlapHeld
    if "changes" in d and "within" in d:
        return FlapStarted
    if "stable" in d:
        return FlapEnded
    if "correlated" in d:
        return Correlated
    if "closed" in d:
        return ParentClosed
    if stage == "normalize" and "source_system" in d and "alert_type" in d:
        return Normalized
    if "reason" in d:
        return Unsuppressed
    return None


@quick_init
@dataclass(frozen=True)
class Decision:
    """One line of an alert's trail: what decided (`rule`: the rule, OID map or built-in) and
    what it decided (`detail`, a typed event that knows its stage, its row and its sentence)."""

    alert_id: str
    rule: str
    detail: DecisionEvent
    config_version_id: int | None = None

    @property
    def stage(self) -> StageName:
        return self.detail.STAGE


# ---- history --------------------------------------------------------------------------------

def describe_history(action: HistoryAction | str, old_status: Status | str | None, new_status: Status | str | None,
                     who: str | None = None, notes: str | None = None,
                     changes: Mapping[str, Any] | None = None) -> str:
    """One alert_history row as a sentence: its action, the status move, who, the note."""
    action = action.value if isinstance(action, HistoryAction) else str(action)
    if action == HistoryAction.OCCURRENCE.value and changes and "occurrence_count" in changes:
        text = f"occurrence: {changes.get('occurrences', 1)} more, {changes['occurrence_count']} in all"
    else:
        old = old_status.value if isinstance(old_status, Status) else old_status
        new = new_status.value if isinstance(new_status, Status) else new_status
        text = action + (f" ({old} → {new})" if old and new else f" ({new})" if new else "")
    return text + (f" by {who}" if who else "") + (f" — {notes}" if notes else "")
