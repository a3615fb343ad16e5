"""What durable_rules would refuse, hang on or match silently wrong, found in pure Python
before it is asked: the limits measured on durable_rules 2.0.28 (rules/host.py's docstring
says how), and `check_limits` over compiled rulesets. The host checks what it loads with it;
`opsc validate` and a reload check the tree with it (rules/limits.py). Never calls durable."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_COMPARE = frozenset({"$neq", "$gt", "$gte", "$lt", "$lte"})
REGEX = frozenset({"$mt", "$imt"})
_EXIST = frozenset({"$ex", "$nex"})
_ARRAY = frozenset({"$iany", "$iall"})
_SCALAR = (str, int, float, bool)
RESERVED = frozenset({"id", "sid"})


@dataclass(frozen=True)
class Limits:
    """Safe values measured on durable_rules 2.0.28 (see module docstring)."""

    max_terms_per_shard: int = 256  # init rule included; hang at 513 children, error 108 at 257
    max_terms_per_rule: int = 255  # a rule must fit in one shard beside the init rule
    max_rules_per_ruleset: int = 2000  # our bound: ~12 shards, ~0.5 ms per match
    max_properties: int = 252  # 254 per message, minus our id and sid
    max_ruleset_json_bytes: int = 4 * 2**20  # our bound: create takes ~50 ms per MiB
    max_regex_length: int = 500  # our bound; Python re, evaluated by the host


DEFAULT_LIMITS = Limits()


# The last rulesets checked and their problems: a reload checks the compiled rules in the
# loader (`opsc validate`'s limits) and again as it loads them. Compiled rulesets are never
# changed after compile_rules; the reference keeps the object (and so its id) alive.
_last_checked: tuple[Mapping[str, Mapping[str, Any]], Limits, tuple[str, ...]] | None = None


def check_limits(rulesets: Mapping[str, Mapping[str, Any]], limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Every problem that would make durable hang, fail, or match silently wrong.

    Pure Python; never calls durable, so it is safe on any input.
    """
    global _last_checked
    last = _last_checked
    if last is not None and last[0] is rulesets and last[1] == limits:
        return list(last[2])
    problems = _check_limits(rulesets, limits)
    _last_checked = (rulesets, limits, tuple(problems))
    return problems


# The last check's rules, by identity: compile_rules hands a reload's unchanged rules back as
# the same objects (never changed after it), so their checks and JSON sizes are kept.
_rule_checks: dict[int, tuple[Any, Limits, tuple[str, ...], int]] = {}


def _check_limits(rulesets: Mapping[str, Mapping[str, Any]], limits: Limits) -> list[str]:
    global _rule_checks
    before, now = _rule_checks, {}
    problems: list[str] = []
    for name, rules in rulesets.items():
        where = f"ruleset {name!r}"
        if not isinstance(rules, Mapping) or not rules:
            problems.append(f"{where}: must be a non-empty mapping of rule name to rule")
            continue
        if len(rules) > limits.max_rules_per_ruleset:
            problems.append(f"{where}: {len(rules)} rules, more than {limits.max_rules_per_ruleset}")
        size = 2 + 2 * (len(rules) - 1)  # the size of json.dumps(rules): "{", "}" and ", " between entries
        found = []
        for rule_name, rule in rules.items():
            hit = before.get(id(rule))
            if hit is None or hit[0] is not rule or hit[1] != limits:
                hit = (rule, limits, tuple(_check_rule(rule, limits)),
                       len(json.dumps(rule, ensure_ascii=False, default=str).encode()))
            now[id(rule)] = hit
            size += len(json.dumps(rule_name, ensure_ascii=False).encode()) + 2 + hit[3]  # "name": rule
            found += [f"{where}, rule {rule_name!r}: {p}" for p in hit[2]]
        if size > limits.max_ruleset_json_bytes:
            problems.append(f"{where}: {size} bytes of JSON, more than {limits.max_ruleset_json_bytes}")
        problems += found
    _rule_checks = now
    return problems


def _check_rule(rule: Any, limits: Limits) -> list[str]:
    if not (isinstance(rule, Mapping) and set(rule) == {"all"} and isinstance(rule["all"], list)
            and len(rule["all"]) == 1 and isinstance(rule["all"][0], Mapping)
            and set(rule["all"][0]) == {"m"}):
        return ['must be {"all": [{"m": <condition>}]} (one event, no run/pri/count/cap)']
    problems: list[str] = []
    _check_condition(rule["all"][0]["m"], "m", False, limits, problems)
    if not problems and (terms := term_count(rule["all"][0]["m"])) > limits.max_terms_per_rule:
        problems.append(f"{terms} terms after expanding $or, more than {limits.max_terms_per_rule}; "
                        "precompute long any-of lists into a boolean event property")
    return problems


def _check_condition(cond: Any, path: str, in_array: bool, limits: Limits, out: list[str]) -> None:
    if not isinstance(cond, Mapping) or len(cond) != 1:
        out.append(f"{path}: a condition is an object with exactly one key")
        return
    [(key, arg)] = cond.items()
    if key in ("$and", "$or"):
        if not isinstance(arg, list) or not arg:
            out.append(f"{path}.{key}: must be a non-empty list")
            return
        for i, sub in enumerate(arg):
            _check_condition(sub, f"{path}.{key}[{i}]", in_array, limits, out)
        return
    is_field = not key.startswith("$") or (in_array and key == "$i")
    if not is_field and key not in _COMPARE | REGEX | _EXIST | _ARRAY:
        out.append(f"{path}: unknown operator {key!r}")
        return
    if is_field:  # equality: {"field": scalar}
        _check_field(key, path, in_array, out)
        if not isinstance(arg, _SCALAR):
            out.append(f"{path}.{key}: equality needs a string, number or boolean")
        return
    if not isinstance(arg, Mapping) or len(arg) != 1:
        out.append(f"{path}.{key}: must be {{field: value}} with exactly one field")
        return
    [(field, value)] = arg.items()
    _check_field(field, f"{path}.{key}", in_array, out)
    if key in _ARRAY:
        _check_condition(value, f"{path}.{key}.{field}", True, limits, out)
    elif key in REGEX:
        if in_array:
            out.append(f"{path}.{key}: a regex on array items is not supported; precompute a flag")
        elif isinstance(problem := _regex_problem(value, limits), str):
            out.append(f"{path}.{key}.{field}: {problem}")
    elif not isinstance(value, _SCALAR):
        out.append(f"{path}.{key}.{field}: needs a string, number or boolean")


def _check_field(field: str, path: str, in_array: bool, out: list[str]) -> None:
    if in_array and field == "$i":  # the array item itself
        return
    if field in RESERVED or field.startswith(("__", "$")):
        out.append(f"{path}: field {field!r} is reserved")


def _regex_problem(pattern: Any, limits: Limits) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        return "regex must be a non-empty string"
    if len(pattern) > limits.max_regex_length:
        return f"regex longer than {limits.max_regex_length} characters"
    try:
        re.compile(pattern)
    except re.error as error:
        return f"invalid regex: {error}"
    return None


def term_count(cond: Mapping[str, Any]) -> int:
    """Paths through the rete for one condition: $or adds, $and multiplies."""
    [(key, arg)] = cond.items()
    if key == "$or":
        return sum(term_count(c) for c in arg)
    if key == "$and":
        product = 1
        for c in arg:
            product *= term_count(c)
        return product
    return 1  # one test; an $iany/$iall is one node whatever its inner condition


def count_properties(value: Mapping[str, Any]) -> int:
    count = len(value)
    for v in value.values():
        if isinstance(v, Mapping):
            count += count_properties(v)
    return count
