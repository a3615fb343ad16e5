"""Python values → JSONB parameters, for the frozen, immutable shapes the engine uses.

Config and model values arrive as Mappings (often MappingProxyType), tuples, enums and
datetimes, which json.dumps does not take as they are; every store module sends them
through here so the conversion is done one way.
"""
from __future__ import annotations

import json
import re

import orjson

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


def _default(value: Any) -> Any:
    """What json.dumps cannot encode by itself (it already takes dicts, lists, tuples, str-Enums)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (Set, frozenset)):
        return list(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)  # a Secret prints as its reference, never its value


_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
# Built once: json.dumps with options constructs an encoder per call, a third of the
# cost for the small dicts the decision trail writes.
_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# orjson writes what the stdlib encoder would (compact, UTF-8, ISO datetimes, NaN as null),
# about five times faster; dataclasses go through _default as they would with json.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """JSON text for the hot path: no pre-walk of the value (plain() costs more than encoding).

    PostgreSQL's jsonb refuses \u0000 and NaN/Infinity: NULs are dropped (an escaped
    backslash before them is kept) and non-finite numbers become null, so no vendor value
    can make a batch unwritable."""
    try:
        text = orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # what orjson refuses (a lone surrogate, an integer over 64 bits): rare
        try:
            text = _ENCODER.encode(value)
        except ValueError:  # NaN or Infinity somewhere
            text = json.dumps(_finite(plain(value)), default=_default, ensure_ascii=False, separators=(",", ":"))
    return _NUL.sub(r"\1", text) if "\\u0000" in text else text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def jsonb(value: Any) -> Jsonb | None:
    """A JSONB query parameter; None stays SQL NULL."""
    return None if value is None else Jsonb(value, dumps=dumps)
