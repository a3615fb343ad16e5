"""What the stages read: one config version compiled for use, and the clock."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..config.bundle import Bundle, ConnectorConfig, Device
from ..identity import Identity, Inventory
from ..rootcause import RootCauses
from ..topology import Topology
from .oidindex import OidIndex


@dataclass(frozen=True)
class ConfigView:
    """A config version prepared for the pipeline (indexes built once per version)."""

    bundle: Bundle
    version_id: int | None = None  # config_versions.id once recorded

    @cached_property
    def oid_index(self) -> OidIndex:
        return OidIndex(self.bundle.oid_mappings)

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.bundle.dependencies)

    @cached_property
    def inventory(self) -> Inventory:
        return Inventory(self.bundle.devices)

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

    def device_name(self, ip: str | None) -> str | None:
        if ip is None:
            return None
        device = self.devices_by_ip.get(ip)
        return device.name if device else ip

    def site(self, ip: str | None) -> str | None:
        device = self.devices_by_ip.get(ip) if ip else None
        return device.site if device else None
