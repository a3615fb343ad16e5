"""YAML rules → durable_rules ruleset definitions (its JSON form) plus Python predicates.

durable_rules tests equality, any-of and numeric order well; regex search (its
dialect is full-match and not Python's), CIDR, tag membership, absence and time
windows are precomputed in Python into boolean flags (`p0`, `p1`, …) that the
ruleset then tests. One compiled form serves `opsc validate` (limits), `opsc test`
and `serve`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..config.bundle import Bundle, Matcher, Rule, TimeWindow
from ..model import Severity

RULESET = "rules"
_DIRECT_OPS = {"eq", "in", "gt", "gte", "lt", "lte"}
_COMPARE = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]")
# Each value of an any-of list is a term of its own in durable's network (a shard holds 256);
# long lists are cheaper as one Python predicate.
MAX_DIRECT_ANY_OF = 16


@dataclass(frozen=True)
class Predicate:
    """A flag computed in Python before the event is posted."""

    flag: str
    matcher: Matcher | None  # None: the rule's time window
    window: TimeWindow | None = None


@dataclass(frozen=True)
class CompiledRules:
    rules: tuple[Rule, ...]  # enabled rules in evaluation order
    ruleset: dict[str, Any]  # rule name → {"all": [{"m": condition}]}
    predicates: tuple[Predicate, ...]
    properties: tuple[str, ...]  # event properties the ruleset reads (everything else stays out)


def field_property(field: str) -> str:
    """Event property for a match field: custom_fields.x → cf_x (durable reads dots as nesting)."""
    if field.startswith("custom_fields."):
        return "cf_" + _SAFE_NAME.sub("_", field.removeprefix("custom_fields."))
    return field


def compile_rules(bundle: Bundle) -> CompiledRules:
    rules = tuple(r for r in bundle.rules if r.enabled)
    predicates: list[Predicate] = []
    properties: set[str] = {"all"}
    ruleset: dict[str, Any] = {}
    for rule in rules:
        terms: list[dict] = []
        for m in rule.match:
            direct = _direct(m)
            if direct is not None:
                terms.append(direct)
                properties.add("severity_rank" if m.field == "severity" else field_property(m.field))
            else:
                flag = f"p{len(predicates)}"
                predicates.append(Predicate(flag, m))
                terms.append({flag: True})
        if rule.time is not None:
            flag = f"p{len(predicates)}"
            predicates.append(Predicate(flag, None, rule.time))
            terms.append({flag: True})
        if not terms:
            terms.append({"all": 1})
        condition = terms[0] if len(terms) == 1 else {"$and": terms}
        ruleset[rule.name] = {"all": [{"m": condition}]}
    properties.update(p.flag for p in predicates)
    return CompiledRules(rules, ruleset, tuple(predicates), tuple(sorted(properties)))


def _direct(m: Matcher) -> dict | None:
    """The durable condition for a matcher, or None when it needs a Python predicate."""
    if m.op not in _DIRECT_OPS or m.field == "tags":
        return None
    values = m.value if isinstance(m.value, tuple) else (m.value,)
    if len(values) > MAX_DIRECT_ANY_OF:
        return None
    if any(isinstance(v, bool) for v in values):
        return None  # durable coerces true == 1 == "true"; keep booleans exact in Python
    if m.field == "severity":
        ranks = [Severity(str(v)).rank for v in values]
        if m.op == "eq":
            return {"severity_rank": ranks[0]}
        if m.op == "in":
            return _any_of("severity_rank", ranks)
        return {_COMPARE[m.op]: {"severity_rank": ranks[0]}}
    prop = field_property(m.field)
    if m.op == "eq":
        return {prop: _scalar(values[0])}
    if m.op == "in":
        return _any_of(prop, [_scalar(v) for v in values])
    if not all(isinstance(v, (int, float)) for v in values):
        return None
    return {_COMPARE[m.op]: {prop: values[0]}}


def _any_of(prop: str, values: list) -> dict:
    if len(values) == 1:
        return {prop: values[0]}
    return {"$or": [{prop: v} for v in values]}


def _scalar(value: Any) -> Any:
    # Strings stay strings; durable compares "3" and 3 as equal, as YAML users expect.
    return value
