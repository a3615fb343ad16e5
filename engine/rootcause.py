"""Which alerts are root causes: configuration, not code.

An alert is a root cause when it says "this device is down" in a way that explains alerts
on what depends on it (dependencies.d). Its `root_cause` kind says which dependencies it
explains:

- `device_down`: the device, or the path through it, is down (unreachable, offline, an
  RF link down): it explains what depends on it through `network`, `logical` and
  `service` dependencies;
- `power_down`: it stopped delivering power (UPS output off, shutdown imminent): it
  explains what depends on it through `power` dependencies.

Where the flag comes from, first match wins:
1. the connector's `root_causes` map (connectors.d), keyed by alert type, or by
   `alert_type/sub-type` where the connector type has a sub-type (PRTG: the sensor type,
   `sensor_down/ping`); keys may hold `*` wildcards; `none` says "not a root";
2. the OID map's `root_cause` (traps);
3. the shipped defaults of the connector type (`root_causes` in its folder's declaration,
   connectors/<type>/__init__.py; listed in docs/engine.md and by `opsc validate --roots`).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .config.bundle import ConnectorConfig, OidMapping
from .connectors import catalog
from .connectors.spec import GENERIC_ROOT_CAUSES
from .frozen import quick_init

# kind → the dependency types it explains
KINDS: Mapping[str, frozenset[str]] = {
    "device_down": frozenset({"network", "logical", "service"}),
    "power_down": frozenset({"power"}),
}
NONE = "none"

# Sources that are not connector types: rule tests' `alert:` steps.
SOURCE_DEFAULTS: Mapping[str, Mapping[str, str]] = {"opsc_test": GENERIC_ROOT_CAUSES}


def defaults(source_system: str) -> Mapping[str, str]:
    """The shipped root causes of a connector type (reachability only), or of another source."""
    spec = catalog.get(source_system)
    return spec.root_causes if spec is not None else SOURCE_DEFAULTS.get(source_system, {})


def subtype_field(source_system: str) -> str | None:
    """The custom field holding a connector type's sub-type, for `alert_type/sub-type` keys."""
    spec = catalog.get(source_system)
    return spec.subtype_field if spec is not None else None


@quick_init
@dataclass(frozen=True)
class Decision:
    kind: str | None  # device_down | power_down | None
    by: str | None  # what said so: "connectors.d/prtg.yaml:12 root_causes", "default for prtg", an OID map


def explains(kind: str | None, dependency_type: str) -> bool:
    return kind is not None and dependency_type in KINDS.get(kind, ())


def _lookup(table: Mapping[str, str], candidates: tuple[str, ...]) -> tuple[str, str] | None:
    """(key, value) for the first candidate with an exact key, else the first with a matching pattern."""
    for c in candidates:
        if c in table:
            return c, table[c]
    for c in candidates:
        for key, value in table.items():
            if "*" in key and fnmatch.fnmatchcase(c, key):
                return key, value
    return None


class RootCauses:
    """The root-cause decisions of one config version."""

    def __init__(self, connectors: Iterable[ConnectorConfig]):
        self._user = {c.name: ({str(k).lower(): v for k, v in c.root_causes.items()}, c) for c in connectors}
        self._cache: dict[tuple, Decision] = {}

    def decide(self, connector: str | None, source_system: str, alert_type: str, subtype: Any,
               mapped: str | None, mapped_by: str | None) -> Decision:
        key = (connector, source_system, alert_type, subtype, mapped, mapped_by)
        found = self._cache.get(key)
        if found is None:
            found = self._decide(*key)
            if len(self._cache) >= 65536:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _decide(self, connector, source_system, alert_type, subtype, mapped, mapped_by) -> Decision:
        atype = alert_type.lower()
        candidates = ((f"{atype}/{str(subtype).lower()}",) if subtype not in (None, "") else ()) + (atype,)
        user, config = self._user.get(connector, ({}, None))
        hit = _lookup(user, candidates)
        if hit is not None and config is not None:
            kind = None if hit[1] == NONE else hit[1]
            return Decision(kind, f"{config.source.file}:{config.source.line} root_causes[{hit[0]}]")
        if mapped is not None:
            return Decision(None if mapped == NONE else mapped, mapped_by)
        hit = _lookup(defaults(source_system), candidates)
        if hit is not None:
            return Decision(hit[1], f"default for {source_system}: {hit[0]}")
        return Decision(None, None)

    def listing(self, connectors: Iterable[ConnectorConfig], mappings: Iterable[OidMapping]) -> list[str]:
        """What is a root cause in this config version, one line each, for `opsc validate --roots`."""
        lines = []
        for c in connectors:
            table = {**defaults(c.type), **{str(k).lower(): v for k, v in c.root_causes.items()}}
            for key, kind in sorted(table.items()):
                where = (f"{c.source.file}:{c.source.line}" if str(key) in {str(k).lower() for k in c.root_causes}
                         else f"default for {c.type}")
                lines.append(f"{c.name} ({c.type}): {key} -> {kind} ({where})")
        for m in mappings:
            if m.root_cause:
                lines.append(f"OID map {m.pattern.text} ({m.alert_type}) -> {m.root_cause} ({m.source})")
        return lines
