"""Notification kinds are listed once (pipeline.effects.KINDS); the rule-test schema an
editor reads offers exactly those."""
from __future__ import annotations

from opsconductor.engine.config.schema import kind_schema
from opsconductor.engine.pipeline.effects import KINDS, TELLS


def _kind_enums(node) -> list[list[str]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("kind"), dict) and "enum" in node["kind"]:
            found.append(node["kind"]["enum"])
        for value in node.values():
            found += _kind_enums(value)
    elif isinstance(node, list):
        for value in node:
            found += _kind_enums(value)
    return found


def test_the_rule_test_schema_offers_exactly_the_engines_kinds() -> None:
    enums = _kind_enums(kind_schema("ruletest"))
    assert enums and all(sorted(e) == sorted(KINDS) for e in enums)
    assert TELLS < set(KINDS) and "resolved" not in TELLS and "acknowledged" not in TELLS
