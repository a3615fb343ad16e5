"""Connector types → classes and normalizers. Adding a type is one line in each table here.

`source_system` of every event is the connector type, so NORMALIZERS is keyed by type too.

Entries name their module and load at the first lookup, so a run imports the connector code
it uses and no more: `opsc test` on a tree whose tests give no `poll:` steps never loads the
pollers and their clients (httpx, asyncio, ~0.1 s of imports); a poll test loads that one
connector's module. tests/rules/test_ruletest_imports.py guards this.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from ..config.schema import CONNECTOR_TYPES as KNOWN
from ..errors import OpscError
from ..pipeline.context import Normalizer

if TYPE_CHECKING:  # connectors.base imports httpx
    from .base import PollingConnector


class LazyTable(Mapping[str, Any]):
    """type → "module:attribute" (relative to this package), imported when first looked up."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        try:
            return self._loaded[key]
        except KeyError:
            module, _, attribute = self._entries[key].partition(":")  # KeyError: not in the table
            value = self._loaded[key] = getattr(import_module(module, __package__), attribute)
            return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


# A class, or a factory with the same signature (cradlepoint picks NCM API or SNMP by `mode`).
# snmp_trap (the trap receiver) and webhook (POST /api/v1/events/{name}) are not polled:
# the supervisor and the web layer run them.
POLLED_CONNECTORS: Mapping[str, Callable[..., PollingConnector]] = LazyTable({
    "prtg": ".prtg.connector:PrtgConnector",
    "mcp": ".mcp.connector:McpConnector",
    "ubiquiti": ".ubiquiti.connector:UispConnector",
    "eaton": ".eaton.poller:EatonPoller",
    "eaton_rest": ".eaton.rest:EatonRestConnector",
    "siklu": ".siklu.poller:SikluPoller",
    "milestone": ".milestone.connector:MilestoneConnector",
    "cradlepoint": ".cradlepoint.connector:cradlepoint_connector",
    "axis": ".axis.connector:AxisConnector",
})

NORMALIZERS: Mapping[str, Normalizer] = LazyTable({
    "prtg": ".prtg.normalizer:normalize",
    "mcp": ".mcp.normalizer:normalize",
    "ubiquiti": ".ubiquiti.normalizer:normalize",
    "snmp_trap": ".snmp.normalizer:normalize_trap",
    "eaton": ".eaton.normalizer:normalize",
    "eaton_rest": ".eaton.normalizer_rest:normalize",
    "siklu": ".siklu.normalizer:normalize",
    "milestone": ".milestone.normalizer:normalize",
    "cradlepoint": ".cradlepoint.normalizer:normalize",  # API events carry "mode": "api"; SNMP ones go to normalizer_snmp
    "axis": ".axis.normalizer:normalize",
    "webhook": ".webhook.normalizer:normalize",
})


class UnknownConnectorType(OpscError):
    """A connector type the config accepts but this engine cannot run (yet)."""


def connector_class(type_: str) -> Callable[..., PollingConnector]:
    try:
        return POLLED_CONNECTORS[type_]
    except KeyError:
        if type_ in KNOWN:
            raise UnknownConnectorType(
                f"connector type {type_!r} is not implemented yet (implemented: {', '.join(sorted(POLLED_CONNECTORS))}); "
                f"set enabled: false on connectors of this type for now") from None
        raise UnknownConnectorType(f"unknown connector type {type_!r} "
                                   f"(known: {', '.join(sorted(KNOWN))})") from None
