"""YAML rules → durable_rules ruleset definitions (its JSON form) plus Python predicates.

durable_rules tests equality, any-of and numeric order well; regex search (its
dialect is full-match and not Python's), CIDR, tag membership, absence and time
windows are precomputed in Python: the event carries the numbers of the predicates
that hold in one array property (`pf`), which the ruleset tests with $iany. (Array
items do not count against durable's 252 properties per message; one property per
predicate would cap a tree at ~250 regex/CIDR conditions.) One compiled form serves `opsc validate` (limits), `opsc test`
and `serve`.
"""
from __future__ import annotations

from collections import OrderedDict

import re
from dataclasses import dataclass
from typing import Any

from ..config.bundle import Bundle, Matcher, Rule, TimeWindow
from ..model import Severity

RULES_PER_RULESET = 1_000  # the host's bound is 2,000; smaller rulesets load in parallel-friendly pieces
_DIRECT_OPS = {"eq", "in", "gt", "gte", "lt", "lte"}
_COMPARE = {"gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]")
# Each value of an any-of list is a term of its own in durable's network (a shard holds 256);
# long lists are cheaper as one Python predicate.
MAX_DIRECT_ANY_OF = 16
Condition = dict[str, Any]  # one durable_rules condition, in its JSON form


@dataclass(frozen=True)
class Predicate:
    """A flag computed in Python before the event is posted."""

    number: int  # its number in the event's `pf` array when it holds
    matcher: Matcher | None  # None: the rule's time window
    window: TimeWindow | None = None


@dataclass(frozen=True)
class CompiledRules:
    rules: tuple[Rule, ...]  # enabled rules in evaluation order
    rulesets: dict[str, dict[str, Any]]  # "rules0", "rules1", … → rule name → {"all": [{"m": condition}]}
    predicates: tuple[Predicate, ...]
    properties: tuple[str, ...]  # event properties the ruleset reads (everything else stays out)


def field_property(field: str) -> str:
    """Event property for a match field: custom_fields.x → cf_x (durable reads dots as nesting)."""
    if field.startswith("custom_fields."):
        return "cf_" + _SAFE_NAME.sub("_", field.removeprefix("custom_fields."))
    return field


# compile_rules is pure, and one reload asks for the same tree's rules several times (the
# loader's limit checks, the rule tests, the live generation); an unchanged tree not at
# all anew. Keyed by the tree's content hash (a loaded tree's: a sha256 over every file; a
# Bundle built by hand without one is compiled each time); the running and the candidate fit.
_COMPILED: OrderedDict[str, CompiledRules] = OrderedDict()
_COMPILED_MAX = 2


def compile_rules(bundle: Bundle) -> CompiledRules:
    """The rules of `bundle` translated for durable_rules (remembered per content hash)."""
    key = bundle.content_hash if len(bundle.content_hash or "") == 64 else None
    hit = _COMPILED.get(key) if key else None
    if key and hit is not None:
        _COMPILED.move_to_end(key)
        return hit
    compiled = _compile(bundle)
    if key:
        _COMPILED[key] = compiled
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    return compiled


# The last compile's rules, by identity: a reload that changed one rule gets the others back as
# the same Rule objects (config/loader.py), whose translation (the same condition objects, which
# the host's checks and shards recognise) is reused when their predicates start at the same number.
_by_rule: dict[int, tuple[Rule, int, tuple[dict[str, Any], tuple[Predicate, ...], frozenset[str]]]] = {}


def _compile(bundle: Bundle) -> CompiledRules:
    global _by_rule
    rules = tuple(r for r in bundle.rules if r.enabled)
    predicates: list[Predicate] = []
    properties: set[str] = {"all"}
    ruleset: dict[str, Any] = {}
    before, now = _by_rule, {}
    for rule in rules:
        base = len(predicates)
        hit = before.get(id(rule))
        translated = hit[2] if hit is not None and hit[0] is rule and hit[1] == base else _translate(rule, base)
        now[id(rule)] = (rule, base, translated)
        entry, own, read = translated
        predicates += own
        properties |= read
        ruleset[rule.name] = entry
    _by_rule = now
    if predicates:
        properties.add(FLAGS)
    names = list(ruleset)
    rulesets = {f"rules{i // RULES_PER_RULESET}": {n: ruleset[n] for n in names[i:i + RULES_PER_RULESET]}
                for i in range(0, len(names), RULES_PER_RULESET)}
    return CompiledRules(rules, rulesets, tuple(predicates), tuple(sorted(properties)))


def _translate(rule: Rule, base: int) -> tuple[dict[str, Any], tuple[Predicate, ...], frozenset[str]]:
    """One rule's ruleset entry, its predicates (numbered from `base`) and the properties it reads."""
    predicates: list[Predicate] = []
    properties: set[str] = set()
    terms: list[Condition] = []
    any_of_in_durable = False
    for m in rule.match:
        direct = _direct(m)
        if direct is not None and "$or" in direct:
            # Alternatives multiply in durable's network ($and of two 16-way $or = 256 paths):
            # one any-of list per rule goes to durable, the others become predicates.
            if any_of_in_durable:
                direct = None
            any_of_in_durable = True
        if direct is not None:
            terms.append(direct)
            properties.add("severity_rank" if m.field == "severity" else field_property(m.field))
        else:
            terms.append(_flag(base + len(predicates)))
            predicates.append(Predicate(base + len(predicates), m))
    if rule.time is not None:
        terms.append(_flag(base + len(predicates)))
        predicates.append(Predicate(base + len(predicates), None, rule.time))
    if not terms:
        terms.append({"all": 1})
    condition = terms[0] if len(terms) == 1 else {"$and": terms}
    return {"all": [{"m": condition}]}, tuple(predicates), frozenset(properties)


FLAGS = "pf"


def _flag(number: int) -> Condition:
    return {"$iany": {FLAGS: {"$i": number}}}


def _direct(m: Matcher) -> Condition | None:
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


def _any_of(prop: str, values: list[Any]) -> Condition:
    if len(values) == 1:
        return {prop: values[0]}
    return {"$or": [{prop: v} for v in values]}


def _scalar(value: Any) -> Any:
    # Strings stay strings; durable compares "3" and 3 as equal, as YAML users expect.
    return value
