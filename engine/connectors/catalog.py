"""The connector types: every folder under engine/connectors/ whose `__init__.py` declares
`CONNECTORS` (connectors/spec.py), found on disk: adding a folder is all it takes to add a type.
Everything that needs to know the types reads them here: the loader and `opsc schema` (names,
schemas, checks), root causes (defaults, sub-type fields), the pipeline (which are polled), the
registry (the code), the supervisor, `opsc check` and the web's inbound endpoint. Data only:
importing this loads the folders' declarations and no connector code.

Order (type lists, hints, `opsc schema`): folders by name, a folder's types as it declares them.
`register` adds a type from elsewhere (a test's temporary package, an extension)."""
from __future__ import annotations

import importlib
import os
import pkgutil
from contextlib import contextmanager
from typing import Iterator

from .spec import ConnectorType


def _declared() -> dict[str, ConnectorType]:
    found: dict[str, ConnectorType] = {}
    # A folder without CONNECTORS (none today) would be code shared by several types, not a type.
    for folder in sorted(pkgutil.iter_modules([os.path.dirname(__file__)]), key=lambda m: m.name):
        if not folder.ispkg:
            continue  # base.py, registry.py, …: the connectors' shared code, loaded on use
        module = importlib.import_module(f"{__package__}.{folder.name}")
        for t in getattr(module, "CONNECTORS", ()):
            if t.name in found:
                raise ValueError(f"connector type {t.name!r} is declared twice ({found[t.name].package}, {t.package})")
            found[t.name] = t
    return found


_TYPES: dict[str, ConnectorType] = _declared()


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
