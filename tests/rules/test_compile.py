"""The compiled durable_rules ruleset agrees with the Python matcher semantics.

Every operator on every kind of field, over many generated alerts: durable's answer
(through the real RulesHost) must equal predicates.matcher_holds for each rule.
"""
from __future__ import annotations

import random
from datetime import datetime, timezone
from types import MappingProxyType

from opsconductor.engine.config.bundle import Bundle, Matcher, Rule, Source
from opsconductor.engine.model import Alert, Severity, Status
from opsconductor.engine.rules.compile import compile_rules
from opsconductor.engine.rules.engine import RuleEngine
from opsconductor.engine.rules.fields import alert_fields
from opsconductor.engine.rules.host import RulesHost
from opsconductor.engine.rules.predicates import matcher_holds

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
SRC = Source("rules/r.yaml", 1)

MATCHERS = [
    Matcher("category", "eq", "power"), Matcher("category", "in", ("power", "network")),
    Matcher("category", "ne", "power"), Matcher("category", "not_in", ("video",)),
    Matcher("severity", "eq", "major"), Matcher("severity", "gte", "major"), Matcher("severity", "lt", "minor"),
    Matcher("severity", "in", ("critical", "info")), Matcher("severity", "lte", "warning"),
    Matcher("device_ip", "cidr", "10.1.0.0/16"), Matcher("device_ip", "cidr", ("10.2.3.0/24", "192.168.0.0/16")),
    Matcher("title", "regex", "^Interface .* down$"), Matcher("title", "not_regex", "test"),
    Matcher("tags", "eq", "core"), Matcher("tags", "in", ("edge", "lab")), Matcher("tags", "not_in", ("lab",)),
    Matcher("custom_fields.rssi", "lt", -70), Matcher("custom_fields.rssi", "gte", -50),
    Matcher("custom_fields.rssi", "exists", True), Matcher("impact", "exists", False),
    Matcher("message", "contains", "battery"), Matcher("is_clear", "eq", False),
    Matcher("alert_type", "eq", "3"), Matcher("resource_key", "in", ("1", "2")),
]


def rule(i: int, matchers: tuple[Matcher, ...]) -> Rule:
    return Rule(name=f"r{i}", description=None, enabled=True, order=i, match=matchers, time=None, set=None,
                notify=None, suppress=None, correlate=None, continue_=True, source=SRC)


def random_alert(rng: random.Random) -> Alert:
    cf = {"rssi": rng.choice([-80, -70, -60, -50, -40])} if rng.random() < 0.7 else {}
    return Alert(
        source_system="snmp_trap", source_alert_id="x",
        severity=rng.choice(list(Severity)), category=rng.choice(["power", "network", "video"]),
        alert_type=rng.choice(["3", "link_down", "on_battery"]),
        title=rng.choice(["Interface Gi1 down", "Interface x up", "test alarm", "UPS on battery"]),
        message=rng.choice([None, "battery low", "ok"]), occurred_at=NOW, received_at=NOW, fingerprint="f",
        device_ip=rng.choice([None, "10.1.2.3", "10.2.3.4", "192.168.5.5", "172.16.0.1"]),
        resource_key=rng.choice(["", "1", "2", "3"]), impact=rng.choice([None, "high"]),
        tags=tuple(rng.sample(["core", "edge", "lab"], rng.randint(0, 2))), is_clear=rng.random() < 0.2,
        status=Status.ACTIVE, custom_fields=MappingProxyType(cf))


def test_durable_agrees_with_python_semantics() -> None:
    rng = random.Random(7)
    rules = [rule(i, (m,)) for i, m in enumerate(MATCHERS)]
    rules += [rule(len(rules) + i, tuple(rng.sample(MATCHERS, 2))) for i in range(40)]
    bundle = Bundle(root=".", content_hash="x", git_commit=None, files=(), rules=tuple(rules))
    engine = RuleEngine(RulesHost(), bundle)
    try:
        for _ in range(400):
            alert = random_alert(rng)
            fields = alert_fields(alert)
            expected = [r.name for r in rules if all(matcher_holds(m, fields) for m in r.match)]
            got = [r.name for r in engine.matched(alert, None, NOW)]
            assert got == expected, (alert, set(got) ^ set(expected))
    finally:
        engine.close()


def test_rules_kept_by_a_reload_agree_with_python_semantics_when_their_neighbours_change() -> None:
    """A reload hands unchanged rules back as the same objects, and their translation is kept;
    one whose predicates now start at another number (a rule before it gained or lost one) is
    translated again: each version of the ruleset must still answer as the Python matchers do."""
    rng = random.Random(11)
    rules = [rule(i, tuple(rng.sample(MATCHERS, 2))) for i in range(30)]
    versions = [rules, [rule(0, (MATCHERS[9], MATCHERS[11]))] + rules[1:],  # more predicates in front
                rules[:5] + [rule(5, (MATCHERS[0],))] + rules[6:], rules]  # fewer; then back again
    host = RulesHost()
    for n, version in enumerate(versions):
        engine = RuleEngine(host, Bundle(root=".", content_hash=f"v{n}", git_commit=None, files=(),
                                         rules=tuple(version)))
        try:
            for _ in range(150):
                alert = random_alert(rng)
                fields = alert_fields(alert)
                expected = [r.name for r in version if all(matcher_holds(m, fields) for m in r.match)]
                assert [r.name for r in engine.matched(alert, None, NOW)] == expected, (n, alert)
        finally:
            engine.close()


def test_simple_matchers_go_to_durable_and_the_rest_to_predicates() -> None:
    rules = (rule(0, (Matcher("category", "eq", "power"), Matcher("severity", "gte", "major"))),
             rule(1, (Matcher("title", "regex", "x"),)), rule(2, ()))
    compiled = compile_rules(Bundle(root=".", content_hash="x", git_commit=None, files=(), rules=rules))
    assert compiled.rulesets["rules0"]["r0"] == {"all": [{"m": {"$and": [{"category": "power"}, {"$gte": {"severity_rank": 4}}]}}]}
    assert compiled.rulesets["rules0"]["r1"] == {"all": [{"m": {"$iany": {"pf": {"$i": 0}}}}]}
    assert compiled.rulesets["rules0"]["r2"] == {"all": [{"m": {"all": 1}}]}
