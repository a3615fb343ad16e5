"""The connector types: one declaration per folder, listed here once (the only line to add
for a new folder). Everything that needs to know the types reads them here: the loader and
`opsc schema` (names, schemas, checks), root causes (defaults, sub-type fields), the pipeline
(which are polled), the registry (the code), the supervisor, `opsc check` and the web's
inbound endpoint. Data only: importing this loads no connector code.

`register` adds a type from elsewhere (a test's temporary package, an extension)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from . import axis, cradlepoint, eaton, mcp, milestone, prtg, siklu, snmp, ubiquiti, webhook
from .spec import ConnectorType

_FOLDERS = (prtg, mcp, snmp, eaton, axis, milestone, cradlepoint, siklu, ubiquiti, webhook)
_TYPES: dict[str, ConnectorType] = {t.name: t for folder in _FOLDERS for t in folder.CONNECTORS}


def names() -> tuple[str, ...]:
    return tuple(_TYPES)


def get(name: str) -> ConnectorType | None:
    return _TYPES.get(name)


def all_types() -> tuple[ConnectorType, ...]:
    return tuple(_TYPES.values())


def register(*types: ConnectorType) -> None:
    for t in types:
        if t.name in _TYPES:
            raise ValueError(f"connector type {t.name!r} is already registered (by {_TYPES[t.name].package})")
    _TYPES.update((t.name, t) for t in types)


def unregister(*types: ConnectorType) -> None:
    for t in types:
        if _TYPES.get(t.name) is t:
            del _TYPES[t.name]


@contextmanager
def registered(*types: ConnectorType) -> Iterator[None]:
    register(*types)
    try:
        yield
    finally:
        unregister(*types)
