"""After a root clears, its children still open wait the settle time of their dependency type
(dependencies.d `suppression.settle`), also across a restart, and keep a rule's suppression."""
from __future__ import annotations

from pipeline_helpers import COLD_START, IF_INDEX, LINK_DOWN, LINK_UP, at, pipeline, trap

from opsconductor.engine.events import RuleSuppressed
from opsconductor.engine.model import Status
from opsconductor.engine.pipeline.state import ActiveAlerts

STD = """
mappings:
  - oid: 1.3.6.1.6.3.1.1.5.3
    alert_type: device_down
    root_cause: device_down
    category: network
    severity: major
    title: "Down - {{ device_name }}"
    resource_key: "{{ vb.ifIndex }}"
  - oid: 1.3.6.1.6.3.1.1.5.4
    alert_type: link_up
    category: network
    severity: clear
    title: "Up - {{ device_name }}"
    resource_key: "{{ vb.ifIndex }}"
    clears: [device_down]
  - oid: 1.3.6.1.6.3.1.1.5.1
    alert_type: cold_start
    category: network
    severity: major
    title: "Cold Start - {{ device_name }}"
"""
DEPS = """
devices:
  - {name: sw, ip: 10.0.0.2}
  - {name: ups, ip: 10.0.0.5}
dependencies:
  - {device: 10.0.1.0/24, depends_on: sw}
"""
RULES = """
channels:
  - {name: noc, type: log}
rules:
  - name: quiet-lab-cams
    match: {device_ip: {cidr: 10.0.1.128/25}}
    suppress: {reason: lab cameras}
  - name: all
    notify: {channels: [noc]}
"""
FILES = {"oidmaps/std.yaml": STD, "rules/r.yaml": RULES}


def ifx(i: int):
    return [(f"{IF_INDEX}.{i}", i)]


def _outage(p):
    (root,) = p.process(trap(LINK_DOWN, "10.0.0.2", ifx(1))).created
    (cam,) = p.process(trap(COLD_START, "10.0.1.11", at=1)).created
    (lab,) = p.process(trap(COLD_START, "10.0.1.200", at=2)).created
    assert {cam.correlated_to_id, lab.correlated_to_id} == {root.id}
    p.process(trap(LINK_UP, "10.0.0.2", ifx(1), at=100))
    return root, cam, lab


def test_settle_per_dependency_type_and_a_rule_suppression_stays(tmp_path) -> None:
    deps = DEPS + "suppression:\n  settle: {network: 5m, default: 1m}\n"
    p = pipeline(tmp_path, {**FILES, "dependencies.d/d.yaml": deps})
    root, cam, lab = _outage(p)
    assert p.tick(at(399)).changes == ()  # 100 s + 5 min
    fx = p.tick(at(400))
    changes = {c.alert.id: (c.action, c.alert.status, c.alert.correlation_rule) for c in fx.changes}
    assert changes == {cam.id: ("unsuppressed", Status.ACTIVE, None),
                       lab.id: ("relinked", Status.SUPPRESSED, "quiet-lab-cams")}
    assert [(n.alert.id, n.kind) for n in fx.notifications] == [(cam.id, "firing")]
    assert any(d.rule == "quiet-lab-cams" and d.detail == RuleSuppressed("lab cameras", "root cleared, still open") for d in fx.decisions)


def test_default_settle_is_the_slowest_poll_cycle_at_least_two_minutes(tmp_path) -> None:
    prtg = "name: prtg\ntype: prtg\nurl: https://prtg.example.net\napi_token: ${env:T:-x}\npoll_interval: 5m\n"
    p = pipeline(tmp_path, {**FILES, "dependencies.d/d.yaml": DEPS, "connectors.d/prtg.yaml": prtg})
    assert (p.view.settle("network"), p.view.lookback("power")) == (300.0, 300.0)
    p2 = pipeline(tmp_path / "b", {**FILES, "dependencies.d/d.yaml": DEPS})
    assert (p2.view.settle("network"), p2.view.lookback("network")) == (120.0, 60.0)


def test_a_restart_after_the_root_cleared_looks_at_the_children_again(tmp_path) -> None:
    p = pipeline(tmp_path, {**FILES, "dependencies.d/d.yaml": DEPS})
    root, cam, lab = _outage(p)
    stored = list(p.state.by_id.values())  # what the database holds open: the children, not the root
    assert root.id not in {a.id for a in stored}
    state = ActiveAlerts()
    state.rebuild(stored)
    p.with_state(state)
    assert state.orphans == {cam.id, lab.id}
    assert p.tick(at(150)).changes == ()  # the first tick after the restart starts the settle time
    assert p.tick(at(269)).changes == ()
    fx = p.tick(at(270))
    assert {c.alert.id: c.alert.status for c in fx.changes} == {cam.id: Status.ACTIVE, lab.id: Status.SUPPRESSED}
    assert [n.alert.id for n in fx.notifications] == [cam.id] and not state.orphans
