"""What a connector type is: one declaration in its folder's `__init__.py` (`CONNECTORS`).

The declaration is data (module names, not modules): the config layer reads it to validate
connectors.d/ (its JSON Schema, its checks), to decide root causes (its defaults) and to know
which connectors are polled, without importing the connector's code. connectors/registry.py
loads the code it names (normalizer, poller, receiver, endpoint) at its first use.
docs/connectors.md#adding-a-connector-type is the recipe."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping

# Reachability alert types that say "the device is down" whatever sent them (webhooks, rule tests).
GENERIC_ROOT_CAUSES: Mapping[str, str] = MappingProxyType({
    "device_down": "device_down", "device_unreachable": "device_down", "host_down": "device_down",
    "node_down": "device_down", "ping_down": "device_down"})


@dataclass(frozen=True)
class Finding:
    """A problem a type's `check` finds in one connector's settings; validate locates it at the
    connector (`path`: below it, e.g. "listen")."""
    message: str
    hint: str | None = None
    warning: bool = False
    path: str = ""


def needs_targets(name: str, settings: Mapping[str, Any], enabled: bool) -> Iterator[Finding]:
    """A `check` for SNMP pollers: enabled without targets polls nothing."""
    if enabled and not settings.get("targets"):
        yield Finding(f"connector {name!r} is enabled but has no targets", warning=True)


@dataclass(frozen=True)
class ConnectorType:
    name: str  # the `type:` users write; also every event's source_system
    package: str  # the folder's package (`__name__` in its __init__.py): where the names below are
    normalizer: str  # "module:attribute" in the folder: (RawEvent, ConfigView) -> tuple[Alert, ...]
    schema: str = "schema.json"  # the type's own keys (config/schemas/connector.common.json: the shared ones)
    # How it runs, one of three: polled (a Connector class or factory taking (config, sink, **options));
    # a receiver the engine starts (its own socket: (config, sink)); an endpoint the web layer
    # serves (POST /api/v1/events/{name}: (config, body, headers, clock) -> events).
    poller: str | None = None
    receiver: str | None = None
    endpoint: str | None = None
    # alert type (or alert_type/sub-type, `*` wildcards) → device_down | power_down (engine/rootcause.py)
    root_causes: Mapping[str, str] = field(default_factory=dict)
    subtype_field: str | None = None  # the custom field holding the sub-type for `alert_type/sub-type` keys
    # Cross-key checks the schema cannot say, on the built settings (secrets as Secret).
    check: Callable[[str, Mapping[str, Any], bool], Iterable[Finding]] | None = None
    fake: str | None = None  # the tests' stand-in for the vendor (tests/fakes/…), for the contract kit

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.poller, self.receiver, self.endpoint)) != 1:
            raise ValueError(f"connector type {self.name!r}: give exactly one of poller, receiver, endpoint")

    @property
    def polled(self) -> bool:
        return self.poller is not None

    def load_schema(self) -> dict[str, Any]:
        text = resources.files(self.package).joinpath(self.schema).read_text(encoding="utf-8")
        loaded: dict[str, Any] = json.loads(text)
        return loaded
