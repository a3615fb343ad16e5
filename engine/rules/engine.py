"""Rule evaluation: durable_rules finds the rules whose conditions hold; this module
applies YAML order and `continue`, and re-matches after a `set` changed the alert.

It is the only user of engine/rules/host.py; the pipeline calls `RuleEngine.evaluate`.
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..frozen import quick_init
from ..config.bundle import Bundle, FrozenMap, CorrelateAction, NotifyAction, Rule, SetAction
from ..model import Alert, evolve
from .compile import FLAGS, CompiledRules, compile_rules, field_property
from .fields import MATCH_FIELDS, alert_fields, severity_rank
from .host import RulesHost
from .predicates import matcher_holds, window_holds

_generation_ids = itertools.count(1)


@quick_init
@dataclass(frozen=True)
class RuleHit:
    rule: Rule
    changed: tuple[str, ...]  # fields a `set` changed


@quick_init
@dataclass(frozen=True)
class RuleOutcome:
    alert: Alert  # after every `set`
    hits: tuple[RuleHit, ...]  # matched rules, in evaluation order
    notify: tuple[tuple[Rule, NotifyAction], ...]
    suppress: tuple[Rule, str] | None
    correlate: tuple[tuple[Rule, CorrelateAction], ...]


class RuleEngine:
    """One config version's rules, loaded as one durable_rules generation."""

    def __init__(self, host: RulesHost, bundle: Bundle, priority_matrix: FrozenMap | None = None) -> None:
        self.host = host
        self.compiled: CompiledRules = compile_rules(bundle)
        self.matrix = priority_matrix or bundle.priority_matrix
        self.generation = f"g{next(_generation_ids)}"
        self.hits: Counter[str] = Counter()  # rule name → alerts it matched (the /config page)
        self._order = {r.name: i for i, r in enumerate(self.compiled.rules)}
        self._props = set(self.compiled.properties)
        # (field, property) pairs the ruleset reads: the event carries nothing else.
        self._wanted = tuple((f, field_property(f)) for f in (*MATCH_FIELDS, *_custom_fields(self.compiled))
                             if field_property(f) in self._props)
        self._loaded = bool(self.compiled.rulesets)  # a tree without rules loads nothing
        if self._loaded:
            host.load(self.generation, self.compiled.rulesets)

    def rule(self, name: str) -> Rule | None:
        index = self._order.get(name)
        return self.compiled.rules[index] if index is not None else None

    def notify_action(self, name: str) -> NotifyAction | None:
        """The notify action of a rule by name (None: no such rule in this version, or it does not notify)."""
        rule = self.rule(name)
        return rule.notify if rule is not None else None

    def close(self) -> None:
        if self._loaded:
            self.host.delete(self.generation)
            self._loaded = False

    def event(self, alert: Alert, site: str | None, now: datetime) -> dict[str, Any]:
        """The properties durable sees: only those the ruleset reads, plus computed flags."""
        fields = alert_fields(alert, site)
        event: dict[str, Any] = {"all": 1}
        for name, prop in self._wanted:
            value = fields.get(name)
            if value is not None and not isinstance(value, (tuple, list, dict)):
                event[prop] = value
        if "severity_rank" in self._props:
            event["severity_rank"] = severity_rank(fields["severity"])
        if self.compiled.predicates:
            event[FLAGS] = [p.number for p in self.compiled.predicates
                            if (matcher_holds(p.matcher, fields) if p.matcher else window_holds(p.window, now))]
        return event

    def matched(self, alert: Alert, site: str | None, now: datetime) -> list[Rule]:
        if not self._loaded:
            return []
        event = self.event(alert, site, now)
        names = [n for ruleset in self.compiled.rulesets for n in self.host.match(self.generation, ruleset, event)]
        return sorted((self.compiled.rules[self._order[n]] for n in names), key=lambda r: self._order[r.name])

    def evaluate(self, alert: Alert, site: str | None, now: datetime) -> RuleOutcome:
        hits: list[RuleHit] = []
        notify, correlate = [], []
        suppress = None
        pending = self.matched(alert, site, now)
        position = -1
        while pending:
            rule = pending.pop(0)
            if self._order[rule.name] <= position:
                continue
            position = self._order[rule.name]
            changed: tuple[str, ...] = ()
            if rule.set:
                alert, changed = _apply_set(alert, rule.set, self.matrix)
            hits.append(RuleHit(rule, changed))
            self.hits[rule.name] += 1
            if rule.notify and not rule.correlate:  # a correlation rule's notify announces its parent
                notify.append((rule, rule.notify))
            if rule.suppress and suppress is None:
                suppress = (rule, rule.suppress)
            if rule.correlate:
                correlate.append((rule, rule.correlate))
            if not rule.continue_:
                break
            if changed:  # later rules see the enriched alert
                pending = [r for r in self.matched(alert, site, now) if self._order[r.name] > position]
        alert = _with_priority(alert, self.matrix)
        return RuleOutcome(alert, tuple(hits), tuple(notify), suppress, tuple(correlate))


def _custom_fields(compiled: CompiledRules) -> tuple[str, ...]:
    return tuple(sorted({m.field for r in compiled.rules for m in r.match if m.field.startswith("custom_fields.")}))


def _apply_set(alert: Alert, action: SetAction, matrix: FrozenMap) -> tuple[Alert, tuple[str, ...]]:
    changes: dict[str, Any] = {}
    if action.tags:
        merged = tuple(dict.fromkeys((*alert.tags, *action.tags)))
        if merged != alert.tags:
            changes["tags"] = merged
    for name in ("impact", "urgency", "priority", "severity", "category"):
        value = getattr(action, name)
        if value is not None and value != getattr(alert, name):
            changes[name] = value
    if action.custom_fields:
        merged_cf = {**alert.custom_fields, **action.custom_fields}
        if merged_cf != dict(alert.custom_fields):
            changes["custom_fields"] = merged_cf
    if not changes:
        return alert, ()
    return evolve(alert, **changes), tuple(sorted(changes))


def _with_priority(alert: Alert, matrix: FrozenMap) -> Alert:
    if alert.priority is None and alert.impact and alert.urgency:
        return evolve(alert, priority=matrix[alert.impact][alert.urgency])
    return alert
