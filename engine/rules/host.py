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
from .durable_limits import DEFAULT_LIMITS, REGEX, RESERVED, Limits, check_limits, count_properties, term_count

_SID = "0"
ANSWERS_KEPT = 4096
_FACT_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # built once: one fact per alert
_FLAG = "__re"  # prefix of the properties that carry regex results
# Every shard fires this rule once at creation. durable's delete_state frees two
# pointers that only an action initialises: on a state where no rule ever fired it
# frees garbage (glibc aborts the process; seen from 180 rules on one node).
_INIT = "init"
_INIT_RULE = {_INIT: {"all": [{"m": {"__init": True}}]}}
_INIT_FACT = json.dumps({"__init": True, "id": "init", "sid": _SID})


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
            reserved = [k for k in event if k in RESERVED or k.startswith("__")]
            if reserved:
                raise RulesError(f"event property {reserved[0]!r} is reserved by the rules host")
            fact = dict(event)
            for rx in loaded.regexes:
                value = _lookup(event, rx.field)
                if isinstance(value, str) and rx.pattern.fullmatch(value):
                    fact[rx.flag] = True
            count = count_properties(fact)
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
                cost = term_count(condition)
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
    if key in REGEX:
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
