"""The only door to durable_rules: load compiled rulesets, match one event, delete.

Nothing else in OpsConductor imports durable. This module drives the C extension
``durable_rules_engine`` directly and synchronously in the calling thread; the stock
``durable.engine.Host`` (two immortal timer threads) is never created.

Accepted ruleset form (durable's JSON form, one event per rule)::

    {"rule name": {"all": [{"m": <condition>}]}, ...}      # dict order = YAML order

Conditions: ``{"field": scalar}`` (equality), ``{"$neq"|"$gt"|"$gte"|"$lt"|"$lte":
{"field": scalar}}``, ``{"$mt"|"$imt": {"field": "regex"}}``, ``{"$ex"|"$nex":
{"field": 1}}``, ``{"$iany"|"$iall": {"field": <condition on "$i">}}``, and
``{"$and"|"$or": [<condition>, ...]}``. Dotted fields ("a.b") reach nested objects.
Regexes are Python ``re`` patterns, always a full match ($imt: ignoring case), and
not allowed inside $iany/$iall. Fields ``id``, ``sid`` and ``__*`` are reserved.

Measured on durable_rules 2.0.28 (experiments in bench/rules_host.py and the report):

* An *event* is consumed by the first rule that matches it; other matching rules never
  fire. A *fact* fires every matching rule once. match() therefore asserts the event as
  a fact, collects every rule name durable hands back, then retracts the fact.
* Any node of the rete with more than 512 children makes create_ruleset spin forever
  holding the GIL (512 rules testing one field: 8 ms; 513: never returns); with
  exactly 512, create works but asserting a value none of them tests spins forever or
  corrupts the heap. 511 is the last safe count. Each term of an ``$or`` is a path of
  its own (256 rules of a 2-way $or hang). More than 256 rules
  ending on the same condition fail with error 108. A node never has more children
  than the ruleset has terms (the rule count after expanding $or), so each user
  ruleset is split into shards of at most 256 terms (init rule included); every
  shard is safe, and match() asks every shard of the ruleset.
* A message holds at most 254 properties, nested object keys included (array
  items are not counted); above that, error 302. We add ``id`` and ``sid``, which
  leaves 252 for the caller.
* Regex: durable's own $mt leaks ~250 KiB per regex rule on every create_ruleset
  (delete_ruleset never frees it) and has a private dialect (full match; %d, %a
  classes; ^ $ \\ are plain characters). So the host evaluates $mt/$imt itself with
  Python ``re.fullmatch`` and hands durable a boolean property ``__reN`` instead;
  only regexes that matched add a property to the event.
* The state of a sid (~2.5 MiB at 200 rules) survives delete_ruleset unless
  delete_state is called first; delete() does both. delete_state itself frees
  garbage (glibc aborts the process) on a state where no rule has fired yet, so each
  shard fires a private init rule once when it is created.
* Comparisons coerce: "3" == 3, true == 1 == "true"; a missing field fails every test
  except $nex (so {"$neq": {"f": x}} is false when f is absent).
* More than 1,024 sids in one ruleset is an error; each sid preallocates memory.
  We use one sid per shard and keep no facts between calls, so no fact id repeats.

Because each fact is asserted and retracted alone and every rule tests one fact, a
ruleset's answer is a function of the event's content: match() remembers the answer
per event text (up to `answers_kept` per ruleset, then starts over), and a storm of alerts
that look alike to the rules asks durable once.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _dre
import orjson

from ..errors import RulesError

_SID = "0"
ANSWERS_KEPT = 4096
_RESERVED = frozenset({"id", "sid"})
_FACT_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # built once: one fact per alert
_FLAG = "__re"  # prefix of the properties that carry regex results
# Every shard fires this rule once at creation. durable's delete_state frees two
# pointers that only an action initialises: on a state where no rule ever fired it
# frees garbage (glibc aborts the process; seen from 180 rules on one node).
_INIT = "init"
_INIT_RULE = {_INIT: {"all": [{"m": {"__init": True}}]}}
_INIT_FACT = json.dumps({"__init": True, "id": "init", "sid": _SID})
_COMPARE = frozenset({"$neq", "$gt", "$gte", "$lt", "$lte"})
_REGEX = frozenset({"$mt", "$imt"})
_EXIST = frozenset({"$ex", "$nex"})
_ARRAY = frozenset({"$iany", "$iall"})
_SCALAR = (str, int, float, bool)


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
    if not problems and (terms := _terms(rule["all"][0]["m"])) > limits.max_terms_per_rule:
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
    if not is_field and key not in _COMPARE | _REGEX | _EXIST | _ARRAY:
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
    elif key in _REGEX:
        if in_array:
            out.append(f"{path}.{key}: a regex on array items is not supported; precompute a flag")
        elif isinstance(problem := _regex_problem(value, limits), str):
            out.append(f"{path}.{key}.{field}: {problem}")
    elif not isinstance(value, _SCALAR):
        out.append(f"{path}.{key}.{field}: needs a string, number or boolean")


def _check_field(field: str, path: str, in_array: bool, out: list[str]) -> None:
    if in_array and field == "$i":  # the array item itself
        return
    if field in _RESERVED or field.startswith(("__", "$")):
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


def _terms(cond: Mapping[str, Any]) -> int:
    """Paths through the rete for one condition: $or adds, $and multiplies."""
    [(key, arg)] = cond.items()
    if key == "$or":
        return sum(_terms(c) for c in arg)
    if key == "$and":
        product = 1
        for c in arg:
            product *= _terms(c)
        return product
    return 1  # one test; an $iany/$iall is one node whatever its inner condition


def _count_properties(value: Mapping[str, Any]) -> int:
    count = len(value)
    for v in value.values():
        if isinstance(v, Mapping):
            count += _count_properties(v)
    return count


def _lookup(event: Mapping[str, Any], field: str) -> Any:
    """The value durable would test: the literal key first, else the dotted path."""
    if field in event:
        return event[field]
    value: Any = event
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class _Regex:
    flag: str  # property name durable tests for true
    field: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class _Shard:
    handle: int
    names: dict[str, int]  # durable rule name -> index in the user's ruleset
    key: str | None = None  # its JSON: the generations whose shard has the same rules share it


@dataclass(frozen=True)
class _Loaded:
    names: tuple[str, ...]  # the user's rule names, in definition order
    regexes: tuple[_Regex, ...]
    shards: tuple[_Shard, ...]
    answers: dict[bytes, tuple[str, ...]] = dataclasses.field(default_factory=dict)  # event JSON → matching rule names


class RulesHost:
    """Rulesets grouped by generation; no background threads; the caller drives it.

    Thread-safe: match() and delete() hold one lock; load() creates outside it so
    the live generation keeps matching during a reload. A shard whose rules
    a loaded generation already has is that generation's durable ruleset, shared: each fact
    is asserted and retracted alone under the lock, so no state passes between them; the
    last generation to let go of it deletes it.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, answers_kept: int = ANSWERS_KEPT):
        self._limits = limits
        self._answers_kept = answers_kept  # 0: ask durable every time
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: set[str] = set()
        self._loaded: dict[str, dict[str, _Loaded]] = {}
        # A reload that changed one rule changes one shard: the new generation uses the others'
        # durable rulesets as they are (creating one is ~3 ms). Key → [handle, generations using it].
        self._shared: dict[str, list[int]] = {}

    def load(self, generation: str, rulesets: Mapping[str, Mapping[str, Any]]) -> None:
        """Create every ruleset of a generation, or none of them."""
        problems = check_limits(rulesets, self._limits)
        if problems:
            raise RulesError(f"generation {generation!r} refused:\n" + "\n".join(problems))
        with self._lock:
            if generation in self._loaded or generation in self._pending:
                raise RulesError(f"generation {generation!r} is already loaded")
            self._pending.add(generation)
        built: dict[str, _Loaded] = {}
        try:
            for name, rules in rulesets.items():
                built[name] = self._create(f"{generation}.{name}", rules)
        except BaseException:
            with self._lock:
                for loaded in built.values():
                    self._release(loaded.shards)
                self._pending.discard(generation)
            raise
        with self._lock:
            self._pending.discard(generation)
            self._loaded[generation] = built

    def match(self, generation: str, ruleset: str, event: Mapping[str, Any]) -> tuple[str, ...]:
        """Names of every rule whose condition matches the event, in definition order."""
        with self._lock:
            try:
                loaded = self._loaded[generation][ruleset]
            except KeyError:
                raise RulesError(f"ruleset {ruleset!r} of generation {generation!r} is not loaded") from None
            try:
                # orjson for the cache key (a fifth of the stdlib's cost); a miss encodes the
                # fact with the stdlib below, which refuses NaN as durable needs.
                key = orjson.dumps(event)
            except (TypeError, ValueError) as error:
                raise RulesError(f"event cannot be encoded as JSON: {error}") from error
            answer = loaded.answers.get(key)
            if answer is not None:
                return answer
            reserved = [k for k in event if k in _RESERVED or k.startswith("__")]
            if reserved:
                raise RulesError(f"event property {reserved[0]!r} is reserved by the rules host")
            fact = dict(event)
            for rx in loaded.regexes:
                value = _lookup(event, rx.field)
                if isinstance(value, str) and rx.pattern.fullmatch(value):
                    fact[rx.flag] = True
            count = _count_properties(fact)
            if count > self._limits.max_properties:
                raise RulesError(
                    f"event has {count - len(fact) + len(event)} properties (nested keys included) "
                    f"and matched {len(fact) - len(event)} regexes of ruleset {ruleset!r}: "
                    f"more than {self._limits.max_properties}")
            fact["id"], fact["sid"] = next(self._ids), _SID
            try:
                text = _FACT_ENCODER.encode(fact)
            except (TypeError, ValueError) as error:
                raise RulesError(f"event cannot be encoded as JSON: {error}") from error
            hits: list[int] = []
            for shard in loaded.shards:
                hits += (shard.names[k] for k in _fire(shard.handle, text, f"{generation}.{ruleset}"))
            answer = tuple(loaded.names[i] for i in sorted(hits))
            if self._answers_kept:
                if len(loaded.answers) >= self._answers_kept:
                    loaded.answers.clear()
                loaded.answers[key] = answer
        return answer

    def delete(self, generation: str) -> None:
        """Delete every ruleset of the generation and free its memory."""
        with self._lock:
            built = self._loaded.pop(generation, None)
            if built is None:
                raise RulesError(f"generation {generation!r} is not loaded")
            for loaded in built.values():
                self._release(loaded.shards)

    def generations(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._loaded)

    def _create(self, label: str, rules: Mapping[str, Any]) -> _Loaded:
        regexes: dict[tuple[str, str, bool], _Regex] = {}
        shards: list[_Shard] = []
        batch: dict[str, Any] = {}
        names: dict[str, int] = {}
        terms = 0
        try:
            for index, rule in enumerate(rules.values()):
                condition = rule["all"][0]["m"]
                cost = _terms(condition)
                if batch and terms + cost > self._limits.max_terms_per_shard - 1:  # -1: _INIT rule
                    shards.append(self._shard(f"{label}#{len(shards)}", batch, names, rules))
                    batch, names, terms = {}, {}, 0
                # durable never sees user names (no quoting or length issues), nor where the shard
                # is in the ruleset: the same rules make the same shard wherever they are
                key = f"r{len(batch)}"
                batch[key] = {"all": [{"m": _replace_regexes(condition, regexes)}]}
                names[key] = index
                terms += cost
            shards.append(self._shard(f"{label}#{len(shards)}", batch, names, rules))
        except BaseException:
            with self._lock:
                self._release(shards)
            raise
        return _Loaded(tuple(rules), tuple(regexes.values()), tuple(shards))

    def _shard(self, label: str, batch: dict[str, Any], names: dict[str, int], rules: Mapping[str, Any]) -> _Shard:
        """The shard of `batch`: one a loaded generation has (the same JSON), or a new one. A regex
        is a flag the generation computes itself (its `regexes`): the shard only tests it."""
        key = json.dumps(batch, ensure_ascii=False)
        with self._lock:
            shared = self._shared.get(key)
            if shared is not None:
                shared[1] += 1
                return _Shard(shared[0], names, key)
        shard = _create_shard(label, batch, names, rules)
        with self._lock:
            if key in self._shared:  # another load made the same one meanwhile: this one stays its own
                return shard
            self._shared[key] = [shard.handle, 1]
        return _Shard(shard.handle, names, key)

    def _release(self, shards: list[_Shard] | tuple[_Shard, ...]) -> None:
        """A generation no longer uses `shards`: delete those no other generation uses (lock held)."""
        unused = []
        for shard in shards:
            if shard.key is not None:
                shared = self._shared[shard.key]
                shared[1] -= 1
                if shared[1]:
                    continue
                del self._shared[shard.key]
            unused.append(shard)
        _delete_shards(unused)


def _replace_regexes(cond: Mapping[str, Any], regexes: dict[tuple[str, str, bool], _Regex]) -> dict[str, Any]:
    """The condition with each $mt/$imt replaced by a test of its boolean flag."""
    [(key, arg)] = cond.items()
    if key in ("$and", "$or"):
        return {key: [_replace_regexes(c, regexes) for c in arg]}
    if key in _REGEX:
        [(field, pattern)] = arg.items()
        ident = (field, pattern, key == "$imt")
        if ident not in regexes:
            compiled = re.compile(pattern, re.IGNORECASE if key == "$imt" else 0)
            regexes[ident] = _Regex(f"{_FLAG}{len(regexes)}", field, compiled)
        return {regexes[ident].flag: True}
    return dict(cond)


def _create_shard(label: str, batch: dict[str, Any], names: dict[str, int],
                  rules: Mapping[str, Any]) -> _Shard:
    try:
        handle = _dre.create_ruleset(label, json.dumps(batch | _INIT_RULE, ensure_ascii=False))
    except _dre.error as error:
        # Name the rule: each rule alone is small and safe to create on its own.
        user_names = list(rules)
        for key, rule in batch.items():
            try:
                _dre.delete_ruleset(_dre.create_ruleset("probe", json.dumps({key: rule})))
            except _dre.error as rule_error:
                raise RulesError(f"{label.split('#')[0]}: rule {user_names[names[key]]!r} "
                                 f"refused by durable_rules: {rule_error}") from rule_error
        raise RulesError(f"{label}: refused by durable_rules: {error}") from error
    shard = _Shard(handle, names)
    try:
        fired = _fire(handle, _INIT_FACT, label)
    except BaseException:
        _delete_shards([shard])
        raise
    if fired != [_INIT]:
        _delete_shards([shard])
        raise RulesError(f"{label}: durable_rules fired {fired} for the init fact")
    return shard


def _fire(handle: int, text: str, label: str) -> list[str]:
    """Assert one fact, collect the key of every rule durable fires, retract the fact."""
    try:
        code, state = _dre.assert_fact(handle, text)
    except _dre.error as error:
        raise RulesError(f"{label}: durable_rules refused the event: {error}") from error
    if code == 1:  # matched nothing; durable stores nothing
        return []
    if code != 0:
        raise RulesError(f"{label}: durable_rules returned {code} for the event")
    keys: list[str] = []
    try:
        result = _dre.start_action_for_state(handle, state)
        messages = result[1] if result else None
        while messages:  # '{"rN":{"m":{...fact...}}}', one fired rule each; no need to parse it
            keys.append(messages[2:messages.index('"', 2)])
            messages = _dre.complete_and_start_action(handle, state)
    except BaseException as error:
        with contextlib.suppress(_dre.error):
            _dre.abandon_action(handle, state)
        with contextlib.suppress(_dre.error):
            _dre.retract_fact(handle, text)
        raise RulesError(f"{label}: matching failed: {error!r}") from error
    try:
        _dre.retract_fact(handle, text)
    except _dre.error as error:
        raise RulesError(f"{label}: durable_rules could not retract the event: {error}") from error
    return keys


def _delete_shards(shards: list[_Shard] | tuple[_Shard, ...]) -> None:
    for shard in shards:
        _dre.delete_state(shard.handle, _SID)  # safe: _create_shard ran an action on it
        _dre.delete_ruleset(shard.handle)
