"""The validated config tree as frozen dataclasses: what every later stage reads."""
from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ..model import Severity
from .oids import OidPattern

FrozenMap = Mapping[str, Any]
EMPTY: FrozenMap = MappingProxyType({})


@dataclass(frozen=True)
class Source:
    """Where a config object was written."""

    file: str
    line: int
    col: int = 1
    path: str = "$"  # JSON path of the object inside its file
    keys: tuple = field(default=(), compare=False, repr=False)  # the same path as keys, for sub-locations

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class FlapPolicy:
    """`changes` state changes within `window` seconds make an alert flapping; `stable`
    seconds without a change end it."""

    changes: int
    window: float
    stable: float


@dataclass(frozen=True)
class ConnectorConfig:
    """One connector instance. `settings` holds the type-specific keys (secrets as Secret);
    each connector type reads them into its own typed config."""

    name: str
    type: str
    enabled: bool
    display_name: str
    poll_interval: float
    timeout: float
    retries: int
    tags: tuple[str, ...]
    category: str | None
    severity_map: FrozenMap
    settings: FrozenMap
    source: Source
    flapping: FlapPolicy | None = None
    # alert type (or alert_type/sub-type, `*` wildcards) → device_down | power_down | none
    # (engine/rootcause.py); over the connector type's defaults
    root_causes: FrozenMap = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class VarbindCondition:
    varbind: str
    equals: str | int | float | None = None
    one_of: tuple = ()
    regex: str | None = None


@dataclass(frozen=True)
class OidMapping:
    pattern: OidPattern
    conditions: tuple[VarbindCondition, ...]
    alert_type: str
    category: str
    severity: Severity
    title: str
    description: str | None
    vendor: str | None
    mib_name: str | None
    mib_object: str | None
    clears: tuple[str, ...]
    resource_key: str | None
    severity_from: tuple[str, FrozenMap] | None
    value_maps: FrozenMap
    tags: tuple[str, ...]
    notes: str | None
    source: Source
    root_cause: str | None = None  # device_down | power_down (engine/rootcause.py)

    @property
    def is_clear(self) -> bool:
        return bool(self.clears)

    @property
    def specificity(self) -> tuple[int, int, int]:
        return (*self.pattern.specificity, len(self.conditions))


@dataclass(frozen=True)
class Device:
    name: str
    ip: str
    site: str | None
    role: str | None
    tags: tuple[str, ...]
    source: Source


@dataclass(frozen=True)
class Dependency:
    """`device` (an IP, or a CIDR network as text) depends on `depends_on` (an IP)."""

    device: str
    depends_on: str
    type: str
    description: str | None
    source: Source

    @property
    def is_network(self) -> bool:
        return "/" in self.device

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.device, strict=False)


@dataclass(frozen=True)
class Matcher:
    """One condition on one alert field: op is eq, ne, in, not_in, gt, gte, lt, lte,
    regex, not_regex, cidr, contains or exists."""

    field: str
    op: str
    value: Any
    # dataclasses.field: the class's own `field` attribute hides the function for type checkers
    source: Source | None = dataclasses.field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TimeWindow:
    days: tuple[str, ...]
    start: str | None
    end: str | None
    timezone: str


@dataclass(frozen=True)
class SetAction:
    tags: tuple[str, ...] = ()
    impact: str | None = None
    urgency: str | None = None
    priority: str | None = None
    severity: Severity | None = None
    category: str | None = None
    custom_fields: FrozenMap = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True)
class NotifyAction:
    channels: tuple[str, ...]
    title_template: str | None
    body_template: str | None
    throttle: float
    repeat_interval: float
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    send_resolved: bool


@dataclass(frozen=True)
class CorrelateAction:
    count: int
    window: float
    group_by: tuple[str, ...]
    parent_alert_type: str
    parent_title: str | None
    parent_severity: Severity | None
    parent_category: str | None


@dataclass(frozen=True)
class Rule:
    name: str
    description: str | None
    enabled: bool
    order: int  # position in the tree: file-name order, then order in the file
    match: tuple[Matcher, ...]
    time: TimeWindow | None
    set: SetAction | None
    notify: NotifyAction | None
    suppress: str | None  # the reason, when the rule suppresses
    correlate: CorrelateAction | None
    continue_: bool
    source: Source
    flapping: FlapPolicy | None = None


@dataclass(frozen=True)
class Channel:
    name: str
    type: str
    settings: FrozenMap
    source: Source


@dataclass(frozen=True)
class Silence:
    name: str
    match: tuple[Matcher, ...]
    starts_at: str | None
    ends_at: str | None
    schedule: TimeWindow | None
    owner: str | None
    comment: str | None
    source: Source


@dataclass(frozen=True)
class RuleTest:
    """A rule unit test; events and expectations stay as validated data for the test runner."""

    name: str
    description: str | None
    events: tuple[FrozenMap, ...]
    expect: FrozenMap
    source: Source


@dataclass(frozen=True)
class Suppression:
    """Timing of dependency suppression (dependencies.d `suppression:`), in seconds per dependency
    type ("default" for the rest); None where the tree says nothing (then the engine's default)."""

    settle: Mapping[str, float] = field(default_factory=lambda: EMPTY)
    lookback: Mapping[str, float] = field(default_factory=lambda: EMPTY)


DEFAULT_PRIORITY_MATRIX: FrozenMap = MappingProxyType({
    "high": MappingProxyType({"high": "P1", "medium": "P2", "low": "P3"}),
    "medium": MappingProxyType({"high": "P2", "medium": "P3", "low": "P4"}),
    "low": MappingProxyType({"high": "P3", "medium": "P4", "low": "P5"}),
})


@dataclass(frozen=True)
class Bundle:
    """One loaded, validated config version."""

    root: str
    content_hash: str
    git_commit: str | None
    files: tuple[str, ...]
    connectors: tuple[ConnectorConfig, ...] = ()
    oid_mappings: tuple[OidMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    channels: tuple[Channel, ...] = ()
    rules: tuple[Rule, ...] = ()
    silences: tuple[Silence, ...] = ()
    tests: tuple[RuleTest, ...] = ()
    priority_matrix: FrozenMap = field(default_factory=lambda: DEFAULT_PRIORITY_MATRIX)
    suppression: Suppression = field(default_factory=Suppression)

    def connector(self, name: str) -> ConnectorConfig | None:
        return next((c for c in self.connectors if c.name == name), None)

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)
