"""PRTG Network Monitor: sensors in Down/Warning, polled through its API."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..spec import ConnectorType, Finding


def _check(name: str, settings: Mapping[str, Any], enabled: bool) -> Iterator[Finding]:
    if not ("api_token" in settings or ("username" in settings and "passhash" in settings)):
        yield Finding(f"connector {name!r}: PRTG needs api_token, or username and passhash")
    if "api_token" in settings and "passhash" in settings:
        yield Finding(f"connector {name!r}: give api_token or username+passhash, not both")


CONNECTORS = (ConnectorType(
    "prtg", __name__, normalizer="normalizer:normalize", poller="connector:PrtgConnector",
    # A sensor in Down is a device down only for a ping sensor (not a CPU, disk or bandwidth one).
    root_causes={"sensor_down/*ping*": "device_down"}, subtype_field="prtg_sensor_type",
    check=_check, fake="tests/fakes/prtg.py"),)
