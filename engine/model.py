"""The domain model: raw events in, alerts out. Frozen dataclasses and ordered enums."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, TypeVar, overload

from .frozen import quick_init


class Severity(str, Enum):
    """Ordered from most to least severe; `clear` marks a clearing event."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"
    CLEAR = "clear"

    @property
    def rank(self) -> int:
        """Higher is more severe: critical=5 … clear=0."""
        return _SEVERITY_RANK[self]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_SEVERITY_RANK = {
    Severity.CRITICAL: 5,
    Severity.MAJOR: 4,
    Severity.MINOR: 3,
    Severity.WARNING: 2,
    Severity.INFO: 1,
    Severity.CLEAR: 0,
}


class Status(str, Enum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"


class HistoryAction(str, Enum):
    """What an alert_history row records: the one list of actions. The migrations' CHECK
    constraint on alert_history.action must allow exactly these (tests/store/test_history_actions.py)."""

    CREATED = "created"
    OCCURRENCE = "occurrence"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"  # by an operator, or a correlation parent whose last child closed
    CLEARED = "cleared"  # by a clear event
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"  # its root cleared and it is still open
    RELINKED = "relinked"  # moved under another root that is still down


class Category(str, Enum):
    NETWORK = "network"
    POWER = "power"
    VIDEO = "video"
    WIRELESS = "wireless"
    SECURITY = "security"
    ENVIRONMENT = "environment"
    COMPUTE = "compute"
    STORAGE = "storage"
    APPLICATION = "application"
    UNKNOWN = "unknown"


class Level3(str, Enum):
    """Impact and urgency: the two axes of the priority matrix."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


EMPTY: Mapping[str, Any] = MappingProxyType({})


@quick_init
@dataclass(frozen=True)
class RawEvent:
    """What a connector hands to the pipeline, before any interpretation."""

    event_id: str  # unique per event (durable_rules refuses duplicates)
    connector: str  # connector instance name from connectors.d
    source_system: str  # connector type: prtg, mcp, snmp_trap, …
    received_at: datetime
    source_address: str | None
    payload: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


class DropEvent(Exception):
    """Raised by a normalizer for an event its connector is configured to discard entirely
    (not even kept as a raw event), e.g. `unmapped: drop` on a trap receiver."""


# Cached: a normalizer computes an alert's fingerprint and the normalize stage computes it
# again once the device identity is settled (engine/identity.py); repeats ask for the same.
@lru_cache(maxsize=8192)
def fingerprint(source_system: str, device: str, alert_type: str, resource_key: str) -> str:
    """sha256 over the identity of a problem: who reports it, where, what, on which resource."""
    text = "\x1f".join((source_system, device, alert_type, resource_key))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@quick_init
@dataclass(frozen=True)
class Alert:
    """A normalized alert; the seed's `alerts` row plus the config version that made it."""

    source_system: str
    source_alert_id: str
    severity: Severity
    category: str
    alert_type: str
    title: str
    occurred_at: datetime
    received_at: datetime
    fingerprint: str
    device_ip: str | None = None
    device_name: str | None = None
    resource_key: str = ""
    impact: str | None = None
    urgency: str | None = None
    priority: str | None = None
    message: str | None = None
    status: Status = Status.ACTIVE
    is_clear: bool = False
    tags: tuple[str, ...] = ()
    custom_fields: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    raw_data: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    occurrence_count: int = 1
    last_occurrence_at: datetime | None = None
    correlated_to_id: str | None = None
    correlation_rule: str | None = None
    id: str | None = None  # UUID once stored
    connector: str | None = None
    config_version_id: int | None = None
    clears: tuple[str, ...] = field(default=())  # alert types this clear event resolves
    # the fingerprints of the alerts it resolves, decided with the device identity before any
    # field was cut to its column width (engine/identity.py; set by the normalize stage)
    clear_targets: tuple[str, ...] = field(default=())
    # device_down | power_down when this alert explains alerts of what depends on its device
    # (engine/rootcause.py); root_cause_by says what decided it (not stored: the decision trail has it)
    root_cause: str | None = None
    root_cause_by: str | None = None


if TYPE_CHECKING:
    class StoredAlert(Alert):
        """An alert with its id: read from the store, or given one by the correlate stage
        (the batch writer stores it with that id). For the type checker only: at run time
        it is `Alert` itself, so nothing is converted or checked per alert."""

        id: str
else:
    StoredAlert = Alert

_ALERT_FIELD_SET = frozenset(Alert.__dataclass_fields__)
AlertT = TypeVar("AlertT", bound=Alert)


@overload
def evolve(alert: Alert, *, id: str, **changes: Any) -> StoredAlert: ...
@overload
def evolve(alert: AlertT, **changes: Any) -> AlertT: ...
def evolve(alert: Alert, **changes: Any) -> Alert:
    """`dataclasses.replace` for the hot path: copies the instance dict instead of re-running
    __init__ (about ten times faster for an Alert's 31 fields). Keys are still checked."""
    unknown = changes.keys() - _ALERT_FIELD_SET
    if unknown:
        raise TypeError(f"Alert has no field(s) {', '.join(sorted(unknown))}")
    new = object.__new__(Alert)
    new.__dict__.update(alert.__dict__)
    new.__dict__.update(changes)
    return new


# Widths of the alerts table's text columns (the seed's VARCHARs, migrations 001 and 003).
TEXT_WIDTHS = {"source_system": 50, "source_alert_id": 255, "device_ip": 45, "device_name": 255, "category": 50,
               "alert_type": 100, "impact": 20, "urgency": 20, "priority": 5, "title": 255, "correlation_rule": 100,
               "resource_key": 255, "connector": 100}


def fit(alert: AlertT) -> AlertT:
    """The alert with every text field storable: NUL characters removed (PostgreSQL text
    cannot hold them) and values cut to their column width, so one odd vendor value can
    never make a whole batch unwritable."""
    changes: dict[str, str | tuple[str, ...]] = {}
    for name, width in TEXT_WIDTHS.items():
        value = getattr(alert, name)
        if isinstance(value, str) and (len(value) > width or "\x00" in value):
            value = value.replace("\x00", "")
            changes[name] = value if len(value) <= width else value[: width - 1] + "…"
    if alert.message and "\x00" in alert.message:
        changes["message"] = alert.message.replace("\x00", "")
    if any("\x00" in t for t in alert.tags):
        changes["tags"] = tuple(t.replace("\x00", "") for t in alert.tags)
    return evolve(alert, **changes) if changes else alert
