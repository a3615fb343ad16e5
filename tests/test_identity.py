"""engine/identity.py: one device identity, whichever way an event names the device."""
from __future__ import annotations

import pytest

from opsconductor.engine.config.bundle import Device, Source
from opsconductor.engine.identity import Inventory, canonical_ip, host_of

SRC = Source("dependencies.d/x.yaml", 1)
INVENTORY = Inventory([
    Device("core-sw", "10.0.0.1", "hq", None, (), SRC),
    Device("node7.example.net", "10.0.0.7", "dc", None, (), SRC),
    Device("web1.example.net", "10.0.0.11", None, None, (), SRC),
    Device("web1.example.org", "10.0.0.12", None, None, (), SRC),
])


@pytest.mark.parametrize("text,ip", [
    ("10.0.0.5", "10.0.0.5"), ("10.0.0.5:9100", "10.0.0.5"), ("10.0.0.5/24", "10.0.0.5"),
    ("[2001:db8::1]:9100", "2001:db8::1"), ("2001:db8::1", "2001:db8::1"), (" 10.0.0.5 ", "10.0.0.5"),
    ("node7:9100", None), ("10.0.0.5:abc", None), ("", None),
])
def test_canonical_ip(text: str, ip: str | None) -> None:
    assert canonical_ip(text) == ip


@pytest.mark.parametrize("text,host", [
    ("node7.example.net:9100", "node7.example.net"), ("node7.example.net.", "node7.example.net"),
    ("https://Node7.example.net:8443/metrics", "Node7.example.net"),
    ("Camera 3: Lobby", "Camera 3: Lobby"),  # a colon that is not a port is part of the name
    ("Site A/Cam 1", "Site A/Cam 1"),  # so is a slash outside a URL
])
def test_host_of(text: str, host: str) -> None:
    assert host_of(text) == host


@pytest.mark.parametrize("ip,name,key,want_ip,want_name", [
    ("10.0.0.1", None, "10.0.0.1", "10.0.0.1", "core-sw"),  # the inventory names a known IP
    ("10.0.0.1", "whatever-prtg-calls-it", "10.0.0.1", "10.0.0.1", "core-sw"),
    ("10.0.0.99", "lab-box", "10.0.0.99", "10.0.0.99", "lab-box"),  # an unknown IP keeps the name given
    (None, "CORE-SW", "10.0.0.1", "10.0.0.1", "core-sw"),  # by name, any case
    (None, "core-sw.example.net:22", "10.0.0.1", "10.0.0.1", "core-sw"),  # with domain and port
    (None, "node7", "10.0.0.7", "10.0.0.7", "node7.example.net"),  # the short form of an inventory FQDN
    (None, "NODE7.example.net:9100", "10.0.0.7", "10.0.0.7", "node7.example.net"),
    (None, "node7.example.org", "node7.example.org", None, "node7.example.org"),  # another domain: another device
    (None, "web1", "web1", None, "web1"),  # two inventory FQDNs share the label: not guessed
    ("core-sw", None, "10.0.0.1", "10.0.0.1", "core-sw"),  # a name in an IP field (trap relays, webhooks)
    (None, "10.0.0.7:9100", "10.0.0.7", "10.0.0.7", "node7.example.net"),  # an IP in a name field
    (None, "Backup-Srv", "backup-srv", None, "Backup-Srv"),  # unknown: its own key, lower case, display kept
    (None, None, "", None, None),
])
def test_identify(ip, name, key, want_ip, want_name) -> None:
    ident = INVENTORY.identify(ip, name)
    assert (ident.key, ident.ip, ident.name) == (key, want_ip, want_name)


def test_fingerprint_is_the_same_for_every_spelling_of_one_device() -> None:
    fps = {INVENTORY.identify(ip, name).fingerprint("webhook", "disk_full", "/var")
           for ip, name in [("10.0.0.7", None), (None, "node7"), (None, "Node7.Example.NET:9100"), ("node7", "x")]}
    assert len(fps) == 1
    assert INVENTORY.identify(None, "node7").fingerprint("webhook", "disk_full", "/var") != \
        INVENTORY.identify(None, "node7").fingerprint("webhook", "disk_full", "/tmp")


@pytest.mark.parametrize("ip,name", [
    ("10.0.0.1", "x"), ("10.0.0.99", "lab box"), (None, "node7:9100"), ("lab-host", "Lab Host (rack 4)"),
    (None, "Backup-Srv"), ("2001:db8::1", None),
])
def test_identity_is_stable_when_derived_again_from_what_it_gave(ip, name) -> None:
    """The normalize stage derives the identity again from the alert's device_ip/device_name."""
    first = INVENTORY.identify(ip, name)
    assert INVENTORY.identify(first.ip, first.name) == first
