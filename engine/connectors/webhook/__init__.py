"""Inbound webhooks: POST /api/v1/events/{name}, mapped by `format` and `mapping`."""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..spec import GENERIC_ROOT_CAUSES, ConnectorType, Finding


def _check(name: str, settings: Mapping[str, Any], enabled: bool) -> Iterator[Finding]:
    if not settings.get("auth"):
        yield Finding(f"webhook connector {name!r} has no auth: anyone who reaches the engine can post alerts",
                      hint="add auth: {bearer_token: ${env:…}} or auth: {hmac_secret: ${env:…}}", warning=True)


CONNECTORS = (ConnectorType("webhook", __name__, normalizer="normalizer:normalize", endpoint="receiver:accept",
                            root_causes=GENERIC_ROOT_CAUSES, check=_check),)
