"""Silences (maintenance windows as code): matching alerts are stored and visible, but
nobody is told while the silence holds; when it ends, alerts still active are notified."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Mapping, Sequence

from ..config.bundle import Matcher, Silence, Source
from ..model import Alert
from ..rules.fields import MATCH_FIELDS, alert_fields
from ..rules.predicates import matcher_holds, window_holds
from .context import ConfigView


@lru_cache(maxsize=1024)
def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def in_time(silence: Silence, now: datetime) -> bool:
    start, end = _when(silence.starts_at), _when(silence.ends_at)
    if (start and now < start) or (end and now >= end):
        return False
    return silence.schedule is None or window_holds(silence.schedule, now)


def holds(silence: Silence, fields: dict[str, Any], now: datetime) -> bool:
    return in_time(silence, now) and all(matcher_holds(m, fields) for m in silence.match)


def active_silence(alert: Alert, view: ConfigView, now: datetime, adhoc: Sequence[Silence] = ()) -> Silence | None:
    """The first silence holding `alert` now: the config's (rules/), then the ad-hoc ones
    (the database's, kept in memory by the engine: no query per alert)."""
    # Time first: most silences are not running, and then the alert's fields are not needed.
    running = [s for group in (view.bundle.silences, adhoc) for s in group if in_time(s, now)]
    if not running:
        return None
    fields = alert_fields(alert, view.site(alert.device_ip))
    return next((s for s in running if all(matcher_holds(m, fields) for m in s.match)), None)


# ---- ad-hoc silences (the database's, beside the YAML ones) --------------------------------------

ADHOC_OPS = ("eq", "ne", "in", "not_in", "regex", "not_regex", "cidr")


def parse_match(match: Any) -> tuple[Matcher, ...]:
    """A silence's `match` as a rule writes it ({field: value | [values] | {op: value}}),
    checked; ValueError names the field and what is wrong."""
    if not isinstance(match, dict) or not match:
        raise ValueError("matchers must be an object of field: value, e.g. {\"device_ip\": \"10.0.0.5\"}")
    out: list[Matcher] = []
    for name, cond in match.items():
        if name not in MATCH_FIELDS and not str(name).startswith("custom_fields."):
            raise ValueError(f"matchers.{name}: unknown field; known: {', '.join(MATCH_FIELDS)}")
        pairs = cond.items() if isinstance(cond, dict) else [("in" if isinstance(cond, list) else "eq", cond)]
        for op, value in pairs:
            if op not in ADHOC_OPS:
                raise ValueError(f"matchers.{name}: unknown operator {op!r}; known: {', '.join(ADHOC_OPS)}")
            if isinstance(value, list):
                if op not in ("in", "not_in", "cidr") or not all(isinstance(v, (str, int, float)) for v in value):
                    raise ValueError(f"matchers.{name}.{op}: expected one value")
                value = tuple(value)
            elif not isinstance(value, (str, int, float, bool)):
                raise ValueError(f"matchers.{name}.{op}: expected a string or a number")
            _check_value(name, op, value)
            out.append(Matcher(name, op, value))
    return tuple(out)


def storable(value: Any) -> bool:
    """Text PostgreSQL takes (JSONB refuses NUL; UTF-8 has no lone surrogates); other values are."""
    if not isinstance(value, str):
        return True
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_value(name: str, op: str, value: Any) -> None:
    if not all(storable(v) for v in (value if isinstance(value, tuple) else (value,))) or not storable(str(name)):
        raise ValueError(f"matchers.{name}.{op}: text must not hold NUL characters or lone surrogates")
    try:
        if op in ("regex", "not_regex"):
            re.compile(str(value))
        elif op == "cidr":
            for v in value if isinstance(value, tuple) else (value,):
                ipaddress.ip_network(str(v), strict=False)
    except (re.error, ValueError) as exc:
        raise ValueError(f"matchers.{name}.{op}: {exc}") from None


@dataclass(frozen=True)
class StoredSilence:
    """An ad-hoc silence as store.silences keeps it (migration 013). Here, not there, so that
    rule tests (`opsc test`) make the same records without loading the database driver."""
    id: int
    matchers: Mapping[str, Any]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    deleted_at: datetime | None = None
    deleted_by: str | None = None

    @property
    def name(self) -> str:
        return f"adhoc-{self.id}"


class SilenceAction(str, Enum):
    """What an operator's command did to an ad-hoc silence (pipeline/silencing.py)."""

    CREATED = "created"
    ENDED = "ended"


def adhoc(stored: StoredSilence) -> Silence:
    """A stored silence as the engine matches it: named adhoc-<id>, sourced from the database."""
    return Silence(name=stored.name, match=parse_match(dict(stored.matchers)), starts_at=stored.starts_at.isoformat(),
                   ends_at=stored.ends_at.isoformat(), schedule=None, owner=stored.created_by,
                   comment=stored.comment, source=Source("database", stored.id, path=f"silences/{stored.id}"))


def describe_match(matchers: tuple[Matcher, ...]) -> list[str]:
    """Matchers as people read them: `device_ip = 10.0.0.5`, `site in a, b`."""
    signs = {"eq": "=", "ne": "≠", "in": "in", "not_in": "not in", "regex": "=~", "not_regex": "!~", "cidr": "in",
             "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "contains": "has", "exists": "exists"}
    out = []
    for m in matchers:
        value = ", ".join(map(str, m.value)) if isinstance(m.value, tuple) else str(m.value)
        out.append(f"{m.field} {signs.get(m.op, m.op)} {value}")
    return out
