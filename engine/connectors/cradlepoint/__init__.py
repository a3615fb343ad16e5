"""Cradlepoint routers: NCM API (cloud) or SNMP, chosen by `mode`."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..spec import ConnectorType, Finding


def _check(name: str, settings: Mapping[str, Any], enabled: bool) -> Iterator[Finding]:
    if settings.get("mode", "api") == "api":
        missing = [k for k in ("cp_api_id", "cp_api_key", "ecm_api_id", "ecm_api_key") if k not in settings]
        if missing:
            yield Finding(f"connector {name!r}: NCM API mode needs {', '.join(missing)}",
                          hint="or set mode: snmp with targets")
    elif not settings.get("targets"):
        yield Finding(f"connector {name!r}: SNMP mode needs targets")


CONNECTORS = (ConnectorType(
    # API events carry "mode": "api"; SNMP ones go to normalizer_snmp (the normalizer picks).
    "cradlepoint", __name__, normalizer="normalizer:normalize", poller="connector:cradlepoint_connector",
    # Reported offline (NCM) or unreachable (SNMP) is a device down; one WAN failing over is not.
    root_causes={"device_offline": "device_down", "device_unreachable": "device_down"}, subtype_field="ncm_type",
    check=_check, fake="tests/fakes/ncm.py"),)
