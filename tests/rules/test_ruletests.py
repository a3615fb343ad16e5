"""`opsc test`: failing expectations name the file, the test and the first difference."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.ruletest import run_tests

ROOT = Path(__file__).resolve().parents[2]

TESTS = """
tests:
  - name: expects the wrong status
    events:
      - trap: {oid: 1.3.6.1.6.3.1.1.5.3, source: 10.20.0.1, varbinds: [{oid: 1.3.6.1.2.1.2.2.1.1.3, value: 3}]}
    expect:
      alerts:
        - fields: {alert_type: link_down}
          status: resolved
  - name: expects no notification but one is sent
    events:
      - trap: {oid: 1.3.6.1.6.3.1.1.5.3, source: 10.20.0.1, varbinds: [{oid: 1.3.6.1.2.1.2.2.1.1.3, value: 3}]}
    expect:
      notifications: []
  - name: wrong channel
    events:
      - alert: {alert_type: on_battery, category: power, severity: critical, device_ip: 10.20.0.5}
    expect:
      notifications:
        - {channel: noc-email}
  - name: time passes and a throttled notification goes out when the throttle ends
    events:
      - alert: {alert_type: low_battery, category: power, severity: critical, device_ip: 10.20.0.5}
      - at: 1m
        alert: {alert_type: low_battery, category: power, severity: clear, device_ip: 10.20.0.5, clears: [low_battery]}
      - at: 2m
        alert: {alert_type: low_battery, category: power, severity: critical, device_ip: 10.20.0.5}
      - at: 20m
        alert: {alert_type: low_battery, category: power, severity: clear, device_ip: 10.20.0.5, clears: [low_battery]}
      - at: 21m
        alert: {alert_type: low_battery, category: power, severity: critical, device_ip: 10.20.0.5}
    expect:
      alert_count: 3
      notifications:
        - {channel: oncall-pager, kind: firing}
        - {channel: oncall-pager, kind: resolved}
        - {channel: oncall-pager, kind: released}
        - {channel: oncall-pager, kind: resolved}
"""


def tree_with_tests(tmp_path: Path) -> Path:
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        subprocess.run(["cp", "-r", str(ROOT / folder), str(tmp_path / folder)], check=True)
    (tmp_path / "rules" / "tests" / "failing.yaml").write_text(textwrap.dedent(TESTS))
    return tmp_path


def test_failures_name_the_first_difference(tmp_path) -> None:
    results = {r.test.name: r for r in run_tests(load_bundle(tree_with_tests(tmp_path)))}
    assert results["expects the wrong status"].failure == "alerts[0].status: expected resolved, got active"
    assert results["expects no notification but one is sent"].failure.startswith(
        "notifications: expected 0, got 1; unexpected: firing link_down@10.20.0.1 via noc-email by email-major-network")
    assert results["wrong channel"].failure.startswith("notifications[0].channel: expected 'noc-email', got 'oncall-pager'")
    throttled = results["time passes and a throttled notification goes out when the throttle ends"]
    assert throttled.passed, throttled.failure
    assert results["low battery pages on-call"].passed
    line = results["wrong channel"].format()
    assert line.startswith("FAIL rules/tests/failing.yaml:15: wrong channel: ")


def test_cli_exit_codes(tmp_path) -> None:
    ok = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "test", "--config", str(ROOT)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    passed = len(load_bundle(ROOT).tests)  # the default tree's tests, all green
    assert ok.stdout.strip().endswith(f"{passed} passed, 0 failed")
    bad = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "test", "--config", str(tree_with_tests(tmp_path))],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stdout.strip().endswith(f"{passed + 1} passed, 3 failed")


def test_verbose_prints_the_timeline_of_a_failing_test(tmp_path) -> None:
    run = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "test", "-v", "--config",
                          str(tree_with_tests(tmp_path))], capture_output=True, text=True, timeout=120)
    lines = run.stdout.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("FAIL rules/tests/failing.yaml:3: expects the wrong status")))
    assert lines[at + 1].split() == ["+0s", "alert", "created:", "link_down@10.20.0.1[3]:active"]
    assert lines[at + 2].split()[:3] == ["+0s", "notified:", "firing"]
    assert any(line.startswith("PASS rules/tests/example.yaml:") for line in lines)  # -v lists passing tests too


def test_junit_and_github_formats(tmp_path) -> None:
    from xml.etree import ElementTree as ET

    tree = tree_with_tests(tmp_path)
    report = tmp_path / "report.xml"
    run = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "test", "--format", "junit", "-o", str(report),
                          "--config", str(tree)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stdout.strip().endswith("3 failed")
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "3"
    suite = next(s for s in root if s.get("name") == "rules/tests/failing.yaml")
    case = next(c for c in suite if c.get("name") == "wrong channel")
    assert case.get("line") == "15"
    failure = case.find("failure")
    assert failure.get("message").startswith("notifications[0].channel: expected 'noc-email', got 'oncall-pager'")
    assert "timeline (simulated time):" in failure.text
    github = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "test", "--format", "github",
                             "--config", str(tree)], capture_output=True, text=True, timeout=120)
    annotation = next(line for line in github.stdout.splitlines() if "wrong channel" in line)
    assert annotation.startswith(f"::error file={tree}/rules/tests/failing.yaml,line=15,title=opsc test%3A wrong channel::")
    assert "notifications[0].channel" in annotation


def test_the_schema_spells_the_engines_lists() -> None:
    """Kinds, silence fields and operators are written in the schema too: they must agree."""
    from opsconductor.engine.config.schema import kind_schema
    from opsconductor.engine.pipeline.effects import KINDS
    from opsconductor.engine.pipeline.silences import ADHOC_OPS
    from opsconductor.engine.rules.fields import MATCH_FIELDS

    defs = kind_schema("ruletest")["$defs"]
    assert defs["expect_notification"]["properties"]["kind"]["enum"] == list(KINDS)
    match = defs["event"]["properties"]["silence"]["properties"]["match"]
    assert match["propertyNames"]["anyOf"][0]["enum"] == list(MATCH_FIELDS)
    assert list(match["additionalProperties"]["anyOf"][2]["properties"]) == list(ADHOC_OPS)


def test_rule_tests_run_from_inside_an_event_loop() -> None:
    """A reload may start from a thread that runs a loop: poll steps still run."""
    import asyncio

    async def inside():
        return run_tests(load_bundle(ROOT))

    results = asyncio.run(inside())
    assert results and all(r.passed for r in results), [r.format() for r in results if not r.passed]
