"""One device identity for every path: which device an event is about, and so the
fingerprint of an alert on it.

Normalizers, clears, dependency and site lookups and rule tests all go through
`Inventory.identify`, so an alert raised by name is cleared by name, and a device the
inventory (dependencies.d `devices:`) knows is the same device whether the event carried
its IP or its name:

- an IP (also `10.0.0.5:9100`, `10.0.0.5/24`, `[2001:db8::1]:9100`) is the key; the
  inventory names it when it knows it;
- a name is matched against the inventory case-insensitively, without port or trailing
  dot, with or without its domain (`node7`, `NODE7.example.net:9100` and
  `node7.example.net` are one device; two FQDNs that differ only in their domain are
  not); a match takes the inventory's IP and name;
- a name the inventory does not know is its own key (lower case, without port).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from .config.bundle import Device
from .frozen import quick_init
from .model import fingerprint


@quick_init
@dataclass(frozen=True)
class Identity:
    key: str  # what fingerprints use: the IP, else the normalized name, else ""
    ip: str | None
    name: str | None  # the inventory name, else the name as given (without port), else the IP
    device: Device | None = None  # the inventory entry, when known

    def fingerprint(self, source_system: str, alert_type: str, resource_key: str) -> str:
        """The fingerprint of an alert of this type on this device and resource (computed
        from the values before any is cut to its column width)."""
        return fingerprint(source_system, self.key, alert_type, resource_key)


NOBODY = Identity("", None, None)


@lru_cache(maxsize=65536)
def canonical_ip(text: str) -> str | None:
    """`text` as an IP address when it is one: `10.0.0.5`, `10.0.0.5/24`, `10.0.0.5:9100`,
    `[2001:db8::1]:9100`; else None."""
    value = text.strip()
    arcs = value.split(".")
    if len(arcs) == 4 and all(a.isdigit() and len(a) <= 3 and (a == "0" or a[0] != "0") and int(a) < 256 for a in arcs):
        return value  # already a canonical IPv4 address: the common case, without ipaddress's cost
    if value.startswith("[") and "]" in value:
        value = value[1:value.index("]")]
    else:
        value = _without_port(value)
    try:
        return str(ipaddress.ip_interface(value).ip)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def host_of(text: str) -> str:
    """A host name as written, without scheme, path, port or trailing dot (case kept)."""
    value = text.strip()
    if "://" in value:  # a URL: its host
        value = value.split("://", 1)[1].split("/", 1)[0]
    return _without_port(value).rstrip(".")


def _without_port(value: str) -> str:
    host, colon, port = value.rpartition(":")
    return host if colon and port.isdigit() and ":" not in host else value


class Inventory:
    """The devices of one config version, found by IP or by name."""

    def __init__(self, devices: Iterable[Device]):
        self.by_ip: dict[str, Device] = {}
        self._by_name: dict[str, Device] = {}
        by_short: dict[str, list[Device]] = {}
        for d in devices:
            self.by_ip.setdefault(d.ip, d)
            name = d.name.casefold().rstrip(".")
            self._by_name.setdefault(name, d)
            if "." in name:
                by_short.setdefault(name.split(".", 1)[0], []).append(d)
        # A bare name matches an inventory FQDN only when one FQDN has that first label.
        self._by_short = {k: v[0] for k, v in by_short.items() if len(v) == 1}
        self._cache: dict[tuple[str | None, str | None], Identity] = {}

    def device_by_name(self, name: str) -> Device | None:
        key = host_of(name).casefold()
        found = self._by_name.get(key)
        if found is not None:
            return found
        if "." in key:
            short = self._by_name.get(key.split(".", 1)[0])  # inventory without domain
            return short if short is not None and "." not in short.name else None
        return self._by_short.get(key)

    def identify(self, ip: str | None, name: str | None) -> Identity:
        """The device an event names by `ip` and/or `name` (either may be None or junk)."""
        cache_key = (ip, name)
        found = self._cache.get(cache_key)
        if found is None:
            found = self._identify(ip, name)
            if len(self._cache) >= 65536:  # vendor data cannot grow it without bound
                self._cache.clear()
            self._cache[cache_key] = found
            # The normalize stage asks again with what this answer gave (it is stable under that).
            self._cache.setdefault((found.ip, found.name), found)
        return found

    def _identify(self, ip: str | None, name: str | None) -> Identity:
        ip_text = ip.strip() if isinstance(ip, str) and ip.strip() else None
        name_text = name.strip() if isinstance(name, str) and name.strip() else None
        address = canonical_ip(ip_text) if ip_text else None
        host = ip_text if ip_text and address is None else None  # a host name in an IP field (relays, webhooks)
        if address is None and host is None and name_text:
            address = canonical_ip(name_text)
            host = None if address else name_text
        display = host_of(name_text) if name_text and canonical_ip(name_text) is None else None
        if address is not None:
            device = self.by_ip.get(address)
            if device is not None:
                return Identity(address, address, device.name, device)
            return Identity(address, address, display or address)
        if host is None:
            return NOBODY
        device = self.device_by_name(host) or (self.device_by_name(name_text) if name_text else None)
        if device is not None:
            return Identity(device.ip, device.ip, device.name, device)
        # Without an IP the name is the identity, so it is also what the alert shows: the stage
        # that re-derives the identity from the alert's fields finds the same key.
        host = host_of(host) or host
        return Identity(host.casefold(), None, host)
