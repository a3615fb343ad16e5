"""Connector types → classes and normalizers. Explicit imports: adding a type is one line here.

`source_system` of every event is the connector type, so NORMALIZERS is keyed by type too.
"""
from __future__ import annotations

from typing import Callable

from ..config.schema import CONNECTOR_TYPES as KNOWN
from ..errors import OpscError
from ..model import Alert, RawEvent
from ..pipeline.context import ConfigView
from .axis.connector import AxisConnector
from .axis.normalizer import normalize as normalize_axis
from .base import Connector
from .cradlepoint.connector import cradlepoint_connector
from .cradlepoint.normalizer import normalize as normalize_cradlepoint
from .eaton.normalizer import normalize as normalize_eaton
from .eaton.normalizer_rest import normalize as normalize_eaton_rest
from .eaton.poller import EatonPoller
from .eaton.rest import EatonRestConnector
from .mcp.connector import McpConnector
from .mcp.normalizer import normalize as normalize_mcp
from .prtg.connector import PrtgConnector
from .prtg.normalizer import normalize as normalize_prtg
from .milestone.connector import MilestoneConnector
from .milestone.normalizer import normalize as normalize_milestone
from .siklu.normalizer import normalize as normalize_siklu
from .siklu.poller import SikluPoller
from .snmp.normalizer import normalize_trap
from .ubiquiti.connector import UispConnector
from .ubiquiti.normalizer import normalize as normalize_uisp
from .webhook.normalizer import normalize as normalize_webhook

Normalizer = Callable[[RawEvent, ConfigView], tuple[Alert, ...]]

# A class, or a factory with the same signature (cradlepoint picks NCM API or SNMP by `mode`).
# snmp_trap (the trap receiver) and webhook (POST /api/v1/events/{name}) are not polled:
# the supervisor and the web layer run them.
POLLED_CONNECTORS: dict[str, Callable[..., Connector]] = {
    "prtg": PrtgConnector,
    "mcp": McpConnector,
    "ubiquiti": UispConnector,
    "eaton": EatonPoller,
    "eaton_rest": EatonRestConnector,
    "siklu": SikluPoller,
    "milestone": MilestoneConnector,
    "cradlepoint": cradlepoint_connector,
    "axis": AxisConnector,
}

NORMALIZERS: dict[str, Normalizer] = {
    "prtg": normalize_prtg,
    "mcp": normalize_mcp,
    "ubiquiti": normalize_uisp,
    "snmp_trap": normalize_trap,
    "eaton": normalize_eaton,
    "eaton_rest": normalize_eaton_rest,
    "siklu": normalize_siklu,
    "milestone": normalize_milestone,
    "cradlepoint": normalize_cradlepoint,  # API events carry "mode": "api"; SNMP ones go to normalizer_snmp
    "axis": normalize_axis,
    "webhook": normalize_webhook,
}


class UnknownConnectorType(OpscError):
    """A connector type the config accepts but this engine cannot run (yet)."""


def connector_class(type_: str) -> Callable[..., Connector]:
    try:
        return POLLED_CONNECTORS[type_]
    except KeyError:
        if type_ in KNOWN:
            raise UnknownConnectorType(
                f"connector type {type_!r} is not implemented yet (implemented: {', '.join(sorted(POLLED_CONNECTORS))}); "
                f"set enabled: false on connectors of this type for now") from None
        raise UnknownConnectorType(f"unknown connector type {type_!r} "
                                   f"(known: {', '.join(sorted(KNOWN))})") from None
