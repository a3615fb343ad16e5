"""Dedup, clears, dependency suppression (with re-evaluation when the root clears),
windowed correlation, rule order, continue, throttling — all through the real pipeline."""
from __future__ import annotations

from pipeline_helpers import COLD_START, IF_INDEX, LINK_DOWN, LINK_UP, at, operator, pipeline, trap

from opsconductor.engine.events import Throttled
from opsconductor.engine.model import HistoryAction, Status

STD = """
mappings:
  - oid: 1.3.6.1.6.3.1.1.5.3
    alert_type: device_down
    root_cause: device_down
    category: network
    severity: major
    title: "Interface Down - {{ device_name }}"
    resource_key: "{{ vb.ifIndex }}"
  - oid: 1.3.6.1.6.3.1.1.5.4
    alert_type: link_up
    category: network
    severity: clear
    title: "Interface Up - {{ device_name }}"
    resource_key: "{{ vb.ifIndex }}"
    clears: [device_down]
  - oid: 1.3.6.1.6.3.1.1.5.1
    alert_type: cold_start
    category: network
    severity: warning
    title: "Cold Start - {{ device_name }}"
"""
DEPS = """
devices:
  - {name: rtr, ip: 10.0.0.1}
  - {name: sw, ip: 10.0.0.2}
dependencies:
  - {device: sw, depends_on: rtr}
  - {device: 10.0.1.0/24, depends_on: sw}
"""
RULES = """
channels:
  - {name: noc, type: log}
  - {name: pager, type: log}
rules:
  - name: tag-all
    set: {tags: [seen], impact: high}
    continue: true
  - name: page-high-major
    match: {impact: high, severity: {gte: major}}
    set: {urgency: high}
    notify: {channels: [pager], throttle: 10m}
  - name: noc-rest
    notify: {channels: [noc]}
"""
FILES = {"oidmaps/std.yaml": STD, "dependencies.d/d.yaml": DEPS, "rules/r.yaml": RULES}


def ifx(i: int):
    return [(f"{IF_INDEX}.{i}", i)]


def test_dedup_counts_occurrences_without_new_notification(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    first = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(1)))
    (alert,) = first.created
    assert [(n.channel, n.rule) for n in first.notifications] == [("pager", "page-high-major")]
    again = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(1), at=5))
    assert again.created == () and again.notifications == ()
    assert again.occurrences[0].id == alert.id and again.occurrences[0].occurrence_count == 2
    other_if = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(2), at=6))
    assert len(other_if.created) == 1  # another resource is another alert


def test_set_then_rematch_priority_and_continue(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (alert,) = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(1))).created
    assert alert.tags == ("seen",) and (alert.impact, alert.urgency, alert.priority) == ("high", "high", "P1")
    (warn,) = p.process(trap(COLD_START, "10.0.0.1", at=1)).created
    assert warn.priority is None  # no urgency: no priority from the matrix
    fx = p.process(trap(COLD_START, "10.9.9.9", at=2))
    assert [(n.channel, n.rule) for n in fx.notifications] == [("noc", "noc-rest")]


def test_clear_resolves_and_sends_resolved_to_whoever_was_told(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (alert,) = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(3))).created
    fx = p.process(trap(LINK_UP, "10.0.0.1", ifx(3), at=30))
    assert [(c.action, c.alert.id, c.alert.status) for c in fx.changes] == [("cleared", alert.id, Status.RESOLVED)]
    assert [(n.channel, n.kind) for n in fx.notifications] == [("pager", "resolved")]
    assert p.state.open_alert(alert.fingerprint) is None
    # A clear for something not open changes nothing.
    assert p.process(trap(LINK_UP, "10.0.0.1", ifx(3), at=40)).changes == ()


def test_throttle_per_rule_and_fingerprint(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    p.process(trap(LINK_DOWN, "10.0.0.1", ifx(4)))
    p.process(trap(LINK_UP, "10.0.0.1", ifx(4), at=10))
    flap = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(4), at=20))
    assert flap.created and flap.notifications == ()  # within 10m of the last page
    assert any(isinstance(d.detail, Throttled) for d in flap.decisions)
    p.process(trap(LINK_UP, "10.0.0.1", ifx(4), at=30))
    later = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(4), at=700))
    assert [n.channel for n in later.notifications] == ["pager"]


def test_throttle_outlives_ticks_while_it_can_matter_and_is_forgotten_after(tmp_path) -> None:
    """A closed alert's throttle is kept through the ticks of its 10 minutes, then dropped:
    the engine does not remember every fingerprint it ever paged for."""
    p = pipeline(tmp_path, FILES)
    p.process(trap(LINK_DOWN, "10.0.0.1", ifx(4)))
    p.process(trap(LINK_UP, "10.0.0.1", ifx(4), at=10))
    key = ("page-high-major", p.process(trap(LINK_DOWN, "10.0.0.9", ifx(1), at=11)).created[0].fingerprint)
    for second in range(20, 600, 60):
        p.tick(at(second))
    flap = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(4), at=590))
    assert flap.created and flap.notifications == ()  # still throttled: 590 s after the page
    p.process(trap(LINK_UP, "10.0.0.1", ifx(4), at=595))
    p.tick(at(601))
    assert len(p.state.last_notified) == 1 and key in p.state.last_notified  # the open alert's stays
    assert [n.channel for n in p.process(trap(LINK_DOWN, "10.0.0.1", ifx(4), at=700)).notifications] == ["pager"]


def test_dependency_suppression_links_root_and_notifies_no_one(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (root,) = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(1))).created
    (sw,) = p.process(trap(COLD_START, "10.0.0.2", at=5)).created
    fx = p.process(trap(COLD_START, "10.0.1.20", at=6))
    (cam,) = fx.created
    assert (sw.status, sw.correlated_to_id) == (Status.SUPPRESSED, root.id)
    assert (cam.status, cam.correlated_to_id) == (Status.SUPPRESSED, root.id)  # transitive: linked to the root
    assert cam.correlation_rule == "dependency:network:10.0.1.20->rtr"
    assert fx.notifications == ()
    trail = [(d.stage, d.rule) for d in fx.decisions]
    assert trail[0] == ("normalize", "oidmaps/std.yaml:17") and ("correlate", cam.correlation_rule) in trail


def test_root_clear_reevaluates_children_after_grace(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (root,) = p.process(trap(LINK_DOWN, "10.0.0.2", ifx(1))).created
    (cam1,) = p.process(trap(LINK_DOWN, "10.0.1.11", ifx(1), at=1)).created
    (cam2,) = p.process(trap(LINK_DOWN, "10.0.1.12", ifx(1), at=2)).created
    cleared = p.process(trap(LINK_UP, "10.0.0.2", ifx(1), at=100))
    assert [c.alert.id for c in cleared.changes] == [root.id]
    assert cleared.notifications and all(n.kind == "resolved" for n in cleared.notifications)
    # cam1 recovers within the grace period: it stays quiet.
    quiet = p.process(trap(LINK_UP, "10.0.1.11", ifx(1), at=110))
    assert [c.alert.id for c in quiet.changes] == [cam1.id] and quiet.notifications == ()
    assert p.tick(at(219)).changes == ()  # not due yet: the default settle time is 120 s
    later = p.tick(at(221))
    assert [(c.action, c.alert.id, c.alert.status) for c in later.changes] == [("unsuppressed", cam2.id, Status.ACTIVE)]
    assert [(n.channel, n.kind) for n in later.notifications] == [("pager", "firing")]


def test_child_relinked_when_another_root_is_still_down(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (sw_down,) = p.process(trap(LINK_DOWN, "10.0.0.2", ifx(1))).created
    (cam,) = p.process(trap(COLD_START, "10.0.1.5", at=1)).created
    assert cam.correlated_to_id == sw_down.id
    (rtr_down,) = p.process(trap(LINK_DOWN, "10.0.0.1", ifx(9), at=2)).created
    p.process(trap(LINK_UP, "10.0.0.2", ifx(1), at=3))
    fx = p.tick(at(123))  # the default settle time, 120 s
    assert [(c.action, c.alert.correlated_to_id) for c in fx.changes] == [("relinked", rtr_down.id)]


def test_suppress_rule_and_windowed_correlation(tmp_path) -> None:
    rules = """
    channels:
      - {name: noc, type: log}
    rules:
      - name: quiet-lab
        match: {device_ip: {cidr: 192.168.99.0/24}}
        suppress: {reason: lab gear}
      - name: flapping-site
        match: {alert_type: device_down}
        correlate:
          count: 3
          window: 1m
          group_by: [site]
          parent: {alert_type: site_link_storm, title: "Link storm at {{ site }}", severity: critical}
        notify: {channels: [noc]}
    """
    deps = """
    devices:
      - {name: a1, ip: 10.5.0.1, site: north}
      - {name: a2, ip: 10.5.0.2, site: north}
      - {name: a3, ip: 10.5.0.3, site: north}
    """
    p = pipeline(tmp_path, {"oidmaps/std.yaml": STD, "rules/r.yaml": rules, "dependencies.d/d.yaml": deps})
    (lab,) = p.process(trap(COLD_START, "192.168.99.4")).created
    assert (lab.status, lab.correlation_rule) == (Status.SUPPRESSED, "quiet-lab")
    a1 = p.process(trap(LINK_DOWN, "10.5.0.1", ifx(1), at=1)).created[0]
    p.process(trap(LINK_DOWN, "10.5.0.2", ifx(1), at=2))
    fx = p.process(trap(LINK_DOWN, "10.5.0.3", ifx(1), at=3))
    parent = next(a for a in fx.created if a.alert_type == "site_link_storm")
    child = next(a for a in fx.created if a.alert_type == "device_down")
    assert parent.title == "Link storm at north" and parent.severity.value == "critical"
    assert (child.status, child.correlated_to_id) == (Status.SUPPRESSED, parent.id)
    assert {c.alert.id for c in fx.changes if c.alert.correlated_to_id == parent.id} >= {a1.id}
    assert [(n.alert.id, n.channel) for n in fx.notifications] == [(parent.id, "noc")]
    # The window slides from the last member: 57 s later a fourth joins the open parent;
    # 5 minutes later an alert is its own (the parent stays open with its children).
    joined = p.process(trap(LINK_DOWN, "10.5.0.2", ifx(5), at=60)).created[0]
    assert (joined.correlated_to_id, joined.status) == (parent.id, Status.SUPPRESSED)
    late = p.process(trap(LINK_DOWN, "10.5.0.1", ifx(7), at=300)).created[0]
    assert (late.correlated_to_id, late.status) == (None, Status.ACTIVE)
    # Window entries live for the window only; a closed parent is forgotten.
    assert len(p.state.windows[("flapping-site", ("north",))]) == 5
    p.tick(at(361))
    assert ("flapping-site", ("north",)) not in p.state.windows
    from opsconductor.engine.model import evolve
    from opsconductor.engine.pipeline.effects import Change, Effects

    p.state.apply(Effects(None, changes=(Change(evolve(parent, status=Status.RESOLVED), HistoryAction.RESOLVED, Status.ACTIVE),)))
    assert p.state.parents == {} and p.state.parent_keys == {}


def test_an_operator_resolving_the_last_child_closes_the_parent_and_tells_whoever_was_told(tmp_path) -> None:
    rules = """
    channels:
      - {name: noc, type: log}
    rules:
      - name: storm
        match: {alert_type: device_down}
        correlate: {count: 2, window: 1m}
        notify: {channels: [noc]}
    """
    p = pipeline(tmp_path, {"oidmaps/std.yaml": STD, "rules/r.yaml": rules})
    first = p.process(trap(LINK_DOWN, "10.6.0.1", ifx(1), at=1)).created[0]
    fx = p.process(trap(LINK_DOWN, "10.6.0.2", ifx(1), at=2))
    parent = next(a for a in fx.created if a.source_system == "correlation")
    second = next(a for a in fx.created if a.source_system != "correlation")
    assert p.state.by_id[first.id].correlated_to_id == parent.id  # linked when the parent formed
    assert [(n.alert.id, n.kind) for n in fx.notifications] == [(parent.id, "firing")]
    fx = operator(p, first.id, "resolve", at(30))  # the other child keeps it open
    assert [(c.alert.id, c.action) for c in fx.changes] == [(first.id, "resolved")]
    fx = operator(p, second.id, "resolve", at(40))
    assert [(c.alert.id, c.action, c.alert.status) for c in fx.changes] == [
        (second.id, "resolved", Status.RESOLVED), (parent.id, "resolved", Status.RESOLVED)]
    assert [(n.alert.id, n.kind, n.channel) for n in fx.notifications] == [(parent.id, "resolved", "noc")]
    assert p.state.parents == {} and parent.id not in p.state.by_id
    # The group is free: the next two make a new parent, with a fingerprint of its own.
    p.process(trap(LINK_DOWN, "10.6.0.1", ifx(1), at=50))
    again = p.process(trap(LINK_DOWN, "10.6.0.2", ifx(1), at=51))
    (new_parent,) = [a for a in again.created if a.source_system == "correlation"]
    assert new_parent.id != parent.id and new_parent.fingerprint != parent.fingerprint


def test_a_storm_in_one_event_makes_one_parent(tmp_path) -> None:
    import itertools

    from opsconductor.engine.model import Alert, RawEvent, Severity, fingerprint
    from opsconductor.engine.connectors.registry import NORMALIZERS
    from opsconductor.engine.pipeline.pipeline import Pipeline

    def many(event, view):  # one webhook body carrying several alerts
        return tuple(Alert(source_system="body", source_alert_id=ip, severity=Severity.MAJOR, category="network",
                           alert_type="device_down", title=f"down {ip}", message=None, occurred_at=event.received_at,
                           received_at=event.received_at, fingerprint=fingerprint("body", ip, "device_down", ""),
                           device_ip=ip, device_name=ip, connector=event.connector)
                     for ip in event.payload["hosts"])

    rules = """
    channels:
      - {name: noc, type: log}
    rules:
      - name: storm
        match: {alert_type: device_down}
        correlate: {count: 3, window: 1m}
        notify: {channels: [noc]}
    """
    base = pipeline(tmp_path, {"rules/r.yaml": rules})
    ids = itertools.count(1)
    p = Pipeline(base.view.bundle, base.rules.host, normalizers={**NORMALIZERS, "body": many},
                 new_id=lambda: f"id{next(ids)}")
    fx = p.process(RawEvent("e1", "hook", "body", at(0), None, {"hosts": ["10.7.0.1", "10.7.0.2", "10.7.0.3", "10.7.0.4"]}))
    (parent,) = [a for a in fx.created if a.source_system == "correlation"]
    children = [a for a in fx.created if a.source_system == "body"]
    assert [(a.status, a.correlated_to_id) for a in children] == [(Status.SUPPRESSED, parent.id)] * 4
    assert fx.changes == () and [(n.alert.id, n.kind) for n in fx.notifications] == [(parent.id, "firing")]
