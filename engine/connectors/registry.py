"""The connector types' code, loaded from what their declarations name (connectors/catalog.py).

`source_system` of every event is the connector type, so NORMALIZERS is keyed by type too.

Each entry loads at its first lookup, so a run imports the connector code it uses and no
more: `opsc test` on a tree whose tests give no `poll:` steps never loads the pollers and
their clients (httpx, asyncio, ~0.1 s of imports); a poll test loads that one connector's
module. tests/rules/test_ruletest_imports.py guards this.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from ..errors import OpscError
from ..pipeline.context import Normalizer
from . import catalog
from .spec import ConnectorType

if TYPE_CHECKING:  # connectors.base imports httpx
    from .base import PollingConnector


def load(spec: ConnectorType, ref: str) -> Any:
    """The object a declaration names ("module:attribute" in its folder)."""
    module, _, attribute = ref.partition(":")
    return getattr(import_module(f"{spec.package}.{module}"), attribute)


class CodeTable(Mapping[str, Any]):
    """type → the code its declaration names under `role`, loaded at the first lookup. A view of
    the catalog: a type registered later is in it too."""

    def __init__(self, role: str) -> None:
        self._role = role
        self._loaded: dict[tuple[str, str], Any] = {}
        self._by_name: dict[str, tuple[ConnectorType, Any]] = {}  # the pipeline asks once per event

    def get(self, key: str, default: Any = None) -> Any:
        hit = self._by_name.get(key)
        if hit is not None and catalog.get(key) is hit[0]:  # still that declaration
            return hit[1]
        try:
            value = self[key]
        except KeyError:
            return default
        spec = catalog.get(key)
        if spec is not None:
            self._by_name[key] = (spec, value)
        return value

    def __getitem__(self, key: str) -> Any:
        spec = catalog.get(key)
        ref = getattr(spec, self._role) if spec is not None else None
        if spec is None or ref is None:
            raise KeyError(key)
        try:
            return self._loaded[(spec.package, ref)]
        except KeyError:
            value = self._loaded[(spec.package, ref)] = load(spec, ref)
            return value

    def __iter__(self) -> Iterator[str]:
        return (t.name for t in catalog.all_types() if getattr(t, self._role) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# A class, or a factory with the same signature (cradlepoint picks NCM API or SNMP by `mode`).
POLLED_CONNECTORS: Mapping[str, Callable[..., PollingConnector]] = CodeTable("poller")
NORMALIZERS: Mapping[str, Normalizer] = CodeTable("normalizer")
RECEIVERS: Mapping[str, Callable[..., Any]] = CodeTable("receiver")  # started by the supervisor (own socket)
ENDPOINTS: Mapping[str, Callable[..., Any]] = CodeTable("endpoint")  # served by the web layer


class UnknownConnectorType(OpscError):
    """A connector type the config accepts but this engine cannot run (yet)."""


def connector_class(type_: str) -> Callable[..., PollingConnector]:
    try:
        return POLLED_CONNECTORS[type_]
    except KeyError:
        if catalog.get(type_) is not None:
            raise UnknownConnectorType(
                f"connector type {type_!r} is not polled (polled: {', '.join(sorted(POLLED_CONNECTORS))})") from None
        raise UnknownConnectorType(f"unknown connector type {type_!r} "
                                   f"(known: {', '.join(sorted(catalog.names()))})") from None
