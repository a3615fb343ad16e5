"""SNMP traps (v1, v2c, v3) received on UDP; also the SNMP pollers' shared parts."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..spec import ConnectorType, Finding


def _check(name: str, settings: Mapping[str, Any], enabled: bool) -> Iterator[Finding]:
    if not settings.get("communities") and not settings.get("v3_users"):
        yield Finding(f"connector {name!r} accepts no community and no v3 user: every trap will be dropped",
                      warning=True)


# Root causes: the OID maps say it, per mapping (oidmaps/*.yaml `root_cause:`).
CONNECTORS = (ConnectorType("snmp_trap", __name__, normalizer="normalizer:normalize_trap",
                            receiver="receiver:TrapReceiver", check=_check),)
