"""Python values → JSONB parameters, for the frozen, immutable shapes the engine uses.

Config and model values arrive as Mappings (often MappingProxyType), tuples, enums and
datetimes, which json.dumps does not take as they are; every store module sends them
through here so the conversion is done one way.
"""
from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import date, datetime
from enum import Enum
from typing import Any

from psycopg.types.json import Jsonb


def plain(value: Any) -> Any:
    """The same value made of dict, list, str, int, float, bool and None only."""
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, Set)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def jsonb(value: Any) -> Jsonb | None:
    """A JSONB query parameter; None stays SQL NULL."""
    return None if value is None else Jsonb(plain(value))
