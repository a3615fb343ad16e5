"""RulesHost against the real durable_rules: no mocks.

Anything that could make durable spin forever (over 512 children on one rete node)
runs only through check_limits, or in a child process with a timeout.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import psutil
import pytest

from opsconductor.engine.errors import RulesError
from opsconductor.engine.rules.durable_limits import Limits, check_limits
from opsconductor.engine.rules.host import RulesHost


def rule(condition: dict) -> dict:
    return {"all": [{"m": condition}]}


ROUTE = {
    "critical": rule({"$gte": {"severity_rank": 4}}),
    "core-switch": rule({"$and": [{"$mt": {"host": "sw[0-9]+-core"}}, {"$iany": {"tags": {"$i": "core"}}}]}),
    "warning-or-worse": rule({"$gte": {"severity_rank": 2}}),
    "power": rule({"$or": [{"kind": "ups_on_battery"}, {"kind": "power_lost"}]}),
    "never": rule({"kind": "nothing"}),
}


@pytest.fixture()
def host():
    h = RulesHost()
    yield h
    for generation in h.generations():
        h.delete(generation)


def run_child(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)


def test_every_matching_rule_is_reported_in_definition_order():
    host = RulesHost(answers_kept=0)  # durable answers every time
    host.load("g1", {"route": ROUTE})
    event = {"severity_rank": 5, "host": "sw12-core", "tags": ["core", "dc1"], "kind": "link_down"}
    assert host.match("g1", "route", event) == ("critical", "core-switch", "warning-or-worse")
    # the same event again: no MessageObservedException, same answer
    assert host.match("g1", "route", event) == ("critical", "core-switch", "warning-or-worse")
    host.delete("g1")


def test_remembered_answers_equal_durables_and_stay_bounded():
    events = [{"severity_rank": n % 6, "host": f"sw{n % 7}-core", "tags": ["core"] if n % 3 else [],
               "kind": ("power_lost", "link_down", "ups_on_battery")[n % 3]} for n in range(300)]
    fresh, remembering = RulesHost(answers_kept=0), RulesHost(answers_kept=50)
    for h in (fresh, remembering):
        h.load("g1", {"route": ROUTE})
    for _ in range(2):
        for event in events:
            assert remembering.match("g1", "route", event) == fresh.match("g1", "route", event)
    assert 0 < len(remembering._loaded["g1"]["route"].answers) <= 50
    for h in (fresh, remembering):
        h.delete("g1")


def test_no_match_is_an_empty_tuple(host):
    host.load("g1", {"route": ROUTE})
    assert host.match("g1", "route", {"severity_rank": 0, "kind": "link_up"}) == ()
    assert host.match("g1", "route", {}) == ()


def test_two_generations_side_by_side_give_their_own_answers(host):
    host.load("g1", {"route": {"page": rule({"$gte": {"severity_rank": 4}})}})
    host.load("g2", {"route": {"page": rule({"$gte": {"severity_rank": 2}})}})
    event = {"severity_rank": 3}
    assert host.match("g1", "route", event) == ()
    assert host.match("g2", "route", event) == ("page",)
    assert host.generations() == ("g1", "g2")


def test_generations_with_shards_in_common_each_answer_and_outlive_the_other(host):
    """A reload that changed one rule shares the other shards with the running generation;
    deleting either generation leaves the other whole, the regexes each its own."""
    many = {f"r{i}": rule({"$and": [{"kind": f"k{i}"}, {"$mt": {"host": "sw.*"}}]}) for i in range(600)}
    edited = dict(many) | {"r7": rule({"$and": [{"kind": "k7"}, {"$mt": {"host": "rtr.*"}}]})}
    host.load("g1", {"route": many})
    host.load("g2", {"route": edited})
    host.load("g3", {"route": many})
    for gone in ("g1", "g3"):
        host.delete(gone)
        assert host.match("g2", "route", {"kind": "k7", "host": "rtr1"}) == ("r7",)
        assert host.match("g2", "route", {"kind": "k500", "host": "sw1"}) == ("r500",)
        assert host.match("g2", "route", {"kind": "k7", "host": "sw1"}) == ()
        if gone == "g1":
            assert host.match("g3", "route", {"kind": "k7", "host": "sw1"}) == ("r7",)
    host.delete("g2")
    host.load("g4", {"route": many})  # nothing of the others is left to share, or to miss
    assert host.match("g4", "route", {"kind": "k599", "host": "sw9"}) == ("r599",)


def test_delete_removes_the_generation_and_its_name_is_usable_again(host):
    host.load("g1", {"route": ROUTE})
    host.delete("g1")
    assert host.generations() == ()
    with pytest.raises(RulesError, match="'g1'"):
        host.match("g1", "route", {"severity_rank": 5})
    with pytest.raises(RulesError, match="not loaded"):
        host.delete("g1")
    host.load("g1", {"route": {"only": rule({"kind": "x"})}})
    assert host.match("g1", "route", {"kind": "x", "severity_rank": 5}) == ("only",)


def test_load_and_delete_do_not_grow_memory(host):
    rules = {f"r{i}": rule({"$and": [{"kind": f"k{i % 7}"}, {"$mt": {"host": f"sw{i}.*"}},
                                     {"$gte": {"severity_rank": i % 5}}]}) for i in range(200)}
    proc = psutil.Process()
    for i in range(10):  # warm up the allocator
        host.load(f"w{i}", {"rs": rules})
        host.match(f"w{i}", "rs", {"kind": "k1", "host": "sw1", "severity_rank": 4})
        host.delete(f"w{i}")
    before = proc.memory_info().rss
    for i in range(50):
        host.load(f"g{i}", {"rs": rules})
        host.match(f"g{i}", "rs", {"kind": "k1", "host": "sw1", "severity_rank": 4})
        host.delete(f"g{i}")
    # durable's own $mt leaked ~50 MiB per cycle here, the sid state ~2.5 MiB
    assert proc.memory_info().rss - before < 8 * 2**20


def test_no_thread_is_started(host):
    before = set(threading.enumerate())
    host.load("g1", {"route": ROUTE})
    host.match("g1", "route", {"severity_rank": 5})
    host.delete("g1")
    assert set(threading.enumerate()) == before


def test_operators_regex_numeric_any_of_tags_and_existence(host):
    host.load("g", {"rs": {
        "regex": rule({"$mt": {"host": r"(core|edge)-\d{2}\.example"}}),
        "regex-nocase": rule({"$imt": {"host": "CORE-.*"}}),
        "rank>=3": rule({"$gte": {"severity_rank": 3}}),
        "rank<2": rule({"$lt": {"severity_rank": 2}}),
        "any-of": rule({"$or": [{"site": "ams"}, {"site": "fra"}]}),
        "tag": rule({"$iany": {"tags": {"$i": "vip"}}}),
        "no-tag-lab": rule({"$iall": {"tags": {"$neq": {"$i": "lab"}}}}),
        "has-owner": rule({"$ex": {"owner": 1}}),
        "nested": rule({"device.vendor": "axis"}),
    }})
    assert host.match("g", "rs", {"host": "core-12.example", "severity_rank": 3, "site": "fra",
                                  "tags": ["vip", "x"], "owner": "noc", "device": {"vendor": "axis"}}) == (
        "regex", "regex-nocase", "rank>=3", "any-of", "tag", "no-tag-lab", "has-owner", "nested")
    # a regex is a full match; "." needs escaping; case counts unless $imt
    assert host.match("g", "rs", {"host": "core-12xexample", "severity_rank": 2}) == ("regex-nocase",)
    assert host.match("g", "rs", {"host": "xcore-12.example", "severity_rank": 1,
                                  "tags": ["lab"], "site": "par"}) == ("rank<2",)


def test_large_ruleset_is_split_into_safe_shards():
    # 600 rules branching from one condition hang create_ruleset when kept in one piece.
    child = run_child("""
        from opsconductor.engine.rules.host import RulesHost
        h = RulesHost()
        h.load("g", {"rs": {f"r{i}": {"all": [{"m": {"$and": [{"kind": "x"}, {"n": i}]}}]}
                            for i in range(600)} | {"any-x": {"all": [{"m": {"kind": "x"}}]}}})
        print(h.match("g", "rs", {"kind": "x", "n": 599}))
        h.delete("g")
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "('r599', 'any-x')"


def test_delete_after_only_unmatched_events_does_not_crash():
    # durable's delete_state freed uninitialised pointers here and glibc aborted the process
    child = run_child("""
        from opsconductor.engine.rules.host import RulesHost
        h = RulesHost()
        h.load("g", {"rs": {f"r{i}": {"all": [{"m": {"$and": [{"kind": "x"}, {"n": i}]}}]}
                            for i in range(250)}})
        print(h.match("g", "rs", {"kind": "x", "n": -1}))
        h.delete("g")
        print("deleted")
    """)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["()", "deleted"]


def test_limit_violations_are_found_by_check_limits():
    too_many_terms = {"huge-any-of": rule({"$or": [{"host": f"h{i}"} for i in range(600)]})}
    problems = check_limits({"routing": too_many_terms, "ok": ROUTE})
    assert problems == ["ruleset 'routing', rule 'huge-any-of': 600 terms after expanding $or, more "
                        "than 255; precompute long any-of lists into a boolean event property"]
    small = Limits(max_rules_per_ruleset=3)
    assert check_limits({"route": ROUTE}, small) == ["ruleset 'route': 5 rules, more than 3"]
    bad = {"rs": {"a": rule({"$in": {"x": [1, 2]}}), "b": {"all": [{"m": {"x": 1}}], "run": "f"},
                  "c": rule({"$mt": {"host": "(unclosed"}}), "d": rule({"id": 3})}}
    assert [p.split(": ", 1)[0] for p in check_limits(bad)] == [
        "ruleset 'rs', rule 'a'", "ruleset 'rs', rule 'b'", "ruleset 'rs', rule 'c'", "ruleset 'rs', rule 'd'"]


def test_load_refuses_limit_violations_before_calling_durable():
    # in a child with a timeout: if the check ever let this through, durable would spin
    child = run_child("""
        from opsconductor.engine.errors import RulesError
        from opsconductor.engine.rules.host import RulesHost
        h = RulesHost()
        try:
            h.load("g", {"routing": {"huge": {"all": [{"m": {"$or": [{"n": i} for i in range(600)]}}]}}})
        except RulesError as error:
            print(error)
        print(h.generations())
    """, timeout=20)
    assert child.returncode == 0, child.stderr
    assert "generation 'g' refused:\nruleset 'routing', rule 'huge': 600 terms" in child.stdout
    assert child.stdout.strip().endswith("()")


def test_load_is_all_or_nothing(host):
    with pytest.raises(RulesError, match="ruleset 'bad'"):
        host.load("g1", {"good": ROUTE, "bad": {"r": rule({"$nope": {"x": 1}})}})
    assert host.generations() == ()
    host.load("g1", {"good": ROUTE})
    with pytest.raises(RulesError, match="already loaded"):
        host.load("g1", {"good": ROUTE})


def test_errors_while_matching_surface_as_rules_error(host):
    host.load("g1", {"route": ROUTE})
    with pytest.raises(RulesError, match="253 properties"):
        host.match("g1", "route", {f"p{i}": i for i in range(253)})
    with pytest.raises(RulesError, match="253 properties"):  # nested keys count too
        host.match("g1", "route", {"nest": {f"p{i}": i for i in range(252)}})
    assert host.match("g1", "route", {f"p{i}": i for i in range(252)}) == ()
    with pytest.raises(RulesError, match="JSON"):
        host.match("g1", "route", {"when": object()})
    with pytest.raises(RulesError, match="'id' is reserved"):
        host.match("g1", "route", {"id": 7})
    with pytest.raises(RulesError, match="not loaded"):
        host.match("g1", "other", {})
    # the host still works afterwards
    assert host.match("g1", "route", {"severity_rank": 4}) == ("critical", "warning-or-worse")
