"""Each form of rule-test input reaches the code production runs: change the connector's
mapping, an OID map, a threshold or a v3 user in a copy of the default tree, and the shipped
test of that form fails, naming what changed."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.ruletest import run_tests

ROOT = Path(__file__).resolve().parents[2]


def copy_tree(tmp_path: Path) -> Path:
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def failures(tree: Path) -> dict[str, str]:
    return {r.test.name: r.failure for r in run_tests(load_bundle(tree)) if not r.passed}


def test_the_default_tree_passes() -> None:
    assert failures(ROOT) == {}


MUTATIONS = [
    pytest.param("connectors.d/monitoring-webhook.yaml", "  alert_type: check", "  alert_type: name",
                 "a monitor's generic JSON body raises and its recovery clears",
                 "events[1] at +3m: the receiver refuses the body: monitoring: $: no alert_type", id="webhook-mapping"),
    pytest.param("connectors.d/monitoring-webhook.yaml", "  clear_when: state", "  clear_when: output",
                 "a monitor's generic JSON body raises and its recovery clears",
                 "alerts[0].count: expected 1 alert(s) like this, got 0", id="webhook-clear_when"),
    pytest.param("connectors.d/alertmanager-webhook.yaml", "  ticket: minor", "  ticket: warning",
                 "the connector's severity_map turns a label into our severity",
                 "alerts[0].fields.severity: expected 'minor', got 'warning'", id="webhook-severity_map"),
    pytest.param("oidmaps/standard.yaml", "    alert_type: link_down\n", "    alert_type: interface_down\n",
                 "a v1 linkDown becomes the standard linkDown notification",
                 "alerts[0].count: expected 1 alert(s) like this, got 0", id="oidmap-v1-conversion"),
    pytest.param("oidmaps/eaton.yaml", "    alert_type: on_battery\n", "    alert_type: ups_on_battery\n",
                 "a v1 datagram captured from net-snmp's snmptrap, converted by RFC 3584",
                 "alerts[0].fields.alert_type: expected 'on_battery', got 'ups_on_battery'", id="oidmap-hex-datagram"),
    pytest.param("connectors.d/snmp-traps-v3.yaml", '"80001f8880e9630000d61ff449"', '"80001f8880aaaaaaaaaaaaaaaa"',
                 "a v3 trap from the configured user and engine id is accepted, others dropped",
                 "alerts[0].count: expected 1 alert(s) like this, got 0", id="v3-engine-id"),
    pytest.param("connectors.d/snmp-traps.yaml", "${env:OPSC_SNMP_COMMUNITY:-public}",
                 "${env:OPSC_SNMP_COMMUNITY_UNSET_IN_TESTS:-private}",
                 "an inform is taken like a trap", "alerts[0]: no alert was created", id="community"),
    pytest.param("connectors.d/prtg.yaml", "poll_interval: 60s", "poll_interval: 60s\nseverity_map: {down: minor}",
                 "PRTG - a down sensor raises, and clears when it is gone from the next poll",
                 "alerts[0].count: expected 1 alert(s) like this, got 0", id="poll-prtg-normalizer"),
    pytest.param("connectors.d/eaton-ups.yaml", "  output_load_max: 80", "  output_load_max: 20",
                 "Eaton UPS over SNMP - a UPS that does not answer is unreachable, and nothing else clears",
                 "alert_count: expected 2, got 3", id="poll-snmp-thresholds"),
    pytest.param("connectors.d/siklu.yaml", "  - host: 10.20.0.21", "  - host: 10.20.0.22",
                 "Siklu over SNMP - the RF link down raises on the radio",
                 "alerts[0].count: expected 1 alert(s) like this, got 0", id="poll-snmp-target"),
    pytest.param("rules/notifications.yaml", "      repeat_interval: 4h", "      repeat_interval: 3h",
                 "an unacknowledged page repeats every 4h, and nothing else is sent",
                 "notifications[1].at: expected +4h, got +3h", id="repeat-interval"),
]


@pytest.mark.parametrize("path,old,new,test,failure", MUTATIONS)
def test_a_mutation_fails_the_test_of_its_input(tmp_path: Path, path: str, old: str, new: str, test: str,
                                                failure: str | None) -> None:
    tree = copy_tree(tmp_path)
    edit(tree / path, old, new)
    failed = failures(tree)
    assert test in failed, sorted(failed)
    if failure is not None:
        assert failed[test].startswith(failure), failed[test]


def test_a_mapping_change_fails_only_the_tests_that_read_it(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    edit(tree / "connectors.d/alertmanager-webhook.yaml", "format: alertmanager", "format: generic\nmapping: {title: receiver}")
    readers = {t.name for t in load_bundle(ROOT).tests
               if any((e.get("webhook") or {}).get("connector") == "alertmanager" for e in t.events)}
    failed = set(failures(tree))
    assert failed <= readers
    assert failed >= {"an Alertmanager v4 body fires and resolves by its fingerprint",
                      "the connector's severity_map turns a label into our severity"}
