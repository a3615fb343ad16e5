"""Connector types → classes and normalizers. Explicit imports: adding a type is one line here.

`source_system` of every event is the connector type, so NORMALIZERS is keyed by type too.
"""
from __future__ import annotations

from typing import Callable

from ..errors import OpscError
from ..model import Alert, RawEvent
from ..pipeline.context import ConfigView
from .base import Connector
from .mcp.connector import McpConnector
from .mcp.normalizer import normalize as normalize_mcp
from .prtg.connector import PrtgConnector
from .prtg.normalizer import normalize as normalize_prtg
from .snmp.normalizer import normalize_trap
from .ubiquiti.connector import UispConnector
from .ubiquiti.normalizer import normalize as normalize_uisp

Normalizer = Callable[[RawEvent, ConfigView], tuple[Alert, ...]]

CONNECTOR_TYPES: dict[str, type[Connector]] = {
    "prtg": PrtgConnector,
    "mcp": McpConnector,
    "ubiquiti": UispConnector,
}

NORMALIZERS: dict[str, Normalizer] = {
    "prtg": normalize_prtg,
    "mcp": normalize_mcp,
    "ubiquiti": normalize_uisp,
    "snmp_trap": normalize_trap,
}


class UnknownConnectorType(OpscError):
    """A connector type the config accepts but this engine cannot run (yet)."""


def connector_class(type_: str) -> type[Connector]:
    try:
        return CONNECTOR_TYPES[type_]
    except KeyError:
        from ..config.schema import CONNECTOR_TYPES as KNOWN
        if type_ in KNOWN:
            raise UnknownConnectorType(
                f"connector type {type_!r} is not implemented yet (implemented: {', '.join(sorted(CONNECTOR_TYPES))}); "
                f"set enabled: false on connectors of this type for now") from None
        raise UnknownConnectorType(f"unknown connector type {type_!r} "
                                   f"(known: {', '.join(sorted(KNOWN))})") from None
