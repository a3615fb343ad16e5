"""What the stages read: one config version compiled for use, and the clock."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from ..config.bundle import Bundle, ConnectorConfig, Device
from ..connectors import catalog
from ..identity import Identity, Inventory
from ..model import Alert, RawEvent
from ..rootcause import RootCauses
from ..config.topology import Topology
from .oidindex import OidIndex


# Floors of the dependency-suppression timings when dependencies.d does not set them
# (`suppression:`): at least one poll cycle of the slowest enabled polling connector, so a
# child's own clear, polled, can arrive before it is paged on its own.
SETTLE_FLOOR_SECONDS = 120.0
LOOKBACK_FLOOR_SECONDS = 60.0


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _polled(connector_type: str) -> bool:
    spec = catalog.get(connector_type)
    return spec is not None and spec.polled


@dataclass(frozen=True)
class ConfigView:
    """A config version prepared for the pipeline (indexes built once per version)."""

    bundle: Bundle
    version_id: int | None = None  # config_versions.id once recorded

    @cached_property
    def oid_index(self) -> OidIndex:
        return OidIndex(self.bundle.oid_mappings)

    def reuse(self, previous: "ConfigView") -> None:
        """Take over the indexes `previous` built whose inputs are the same objects here (a reload
        that edits rules keeps the unchanged OID maps' index, the topology and the inventory)."""
        inputs = {"oid_index": ("oid_mappings",), "topology": ("dependencies",),
                  "inventory": ("devices",), "devices_by_ip": ("devices",)}
        for name, fields in inputs.items():
            built = previous.__dict__.get(name)
            if built is not None and name not in self.__dict__ and all(
                    _same(getattr(self.bundle, f), getattr(previous.bundle, f)) for f in fields):
                self.__dict__[name] = built  # cached_property's own slot (the dataclass is frozen)

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.bundle.dependencies)

    @cached_property
    def inventory(self) -> Inventory:
        return Inventory(self.bundle.devices)

    @cached_property
    def slowest_poll(self) -> float:
        return max((c.poll_interval for c in self.bundle.connectors if c.enabled and _polled(c.type)),
                   default=0.0)

    def settle(self, dependency_type: str) -> float:
        """Seconds children still open after their root cleared wait before they go on their own."""
        table = self.bundle.suppression.settle
        return table.get(dependency_type, table.get("default", max(SETTLE_FLOOR_SECONDS, self.slowest_poll)))

    def lookback(self, dependency_type: str) -> float:
        """Seconds before a root arrived in which a child that arrived still gets linked under it."""
        table = self.bundle.suppression.lookback
        return table.get(dependency_type, table.get("default", max(LOOKBACK_FLOOR_SECONDS, self.slowest_poll)))

    @cached_property
    def root_causes(self) -> RootCauses:
        return RootCauses(self.bundle.connectors)

    @cached_property
    def devices_by_ip(self) -> dict[str, Device]:
        return self.inventory.by_ip

    def identify(self, ip: str | None, name: str | None = None) -> Identity:
        """The one decision of which device an event is about (engine/identity.py)."""
        return self.inventory.identify(ip, name)

    @cached_property
    def connectors(self) -> dict[str, ConnectorConfig]:
        return {c.name: c for c in self.bundle.connectors}

    @cached_property
    def rules_with_flapping(self) -> bool:
        return any(r.flapping is not None for r in self.bundle.rules)

    def device_name(self, ip: str | None) -> str | None:
        if ip is None:
            return None
        device = self.devices_by_ip.get(ip)
        return device.name if device else ip

    def site(self, ip: str | None) -> str | None:
        device = self.devices_by_ip.get(ip) if ip else None
        return device.site if device else None


# A connector type's normalizer (connectors/registry.py NORMALIZERS): a raw event → its alerts.
Normalizer = Callable[[RawEvent, ConfigView], tuple[Alert, ...]]
