"""Flap detection set on a rule (the default tree's rule tests show it set on a connector)."""
from __future__ import annotations

from pipeline_helpers import IF_INDEX, LINK_DOWN, LINK_UP, at, pipeline, trap

from opsconductor.engine.model import Status

MAPS = """
mappings:
  - {oid: 1.3.6.1.6.3.1.1.5.3, alert_type: link_down, category: network, severity: major, title: down,
     resource_key: "{{ vb.ifIndex }}"}
  - {oid: 1.3.6.1.6.3.1.1.5.4, alert_type: link_up, category: network, severity: clear, title: up,
     resource_key: "{{ vb.ifIndex }}", clears: [link_down]}
"""
RULES = """
channels:
  - {name: noc, type: log}
rules:
  - name: core-ports
    match: {device_ip: 10.1.0.1}
    flapping: {changes: 3, window: 5m, stable: 2m}
    notify: {channels: [noc]}
  - name: everything-else
    notify: {channels: [noc]}
"""


def port(event: str, ip: str, seconds: float):
    return trap(event, ip, [(f"{IF_INDEX}.7", 7)], at=seconds)


def test_a_rule_policy_marks_its_alerts_flapping_and_others_are_not(tmp_path) -> None:
    p = pipeline(tmp_path, {"oidmaps/m.yaml": MAPS, "rules/r.yaml": RULES})
    told = []
    for ip in ("10.1.0.1", "10.1.0.2"):
        for i, event in enumerate((LINK_DOWN, LINK_UP, LINK_DOWN, LINK_UP)):
            told += p.process(port(event, ip, i * 10)).notifications
    flapping = [a for a in p.state.by_id.values() if a.custom_fields.get("flapping")]
    assert [(a.device_ip, a.custom_fields["flap_count"], a.custom_fields["flap_state"]) for a in flapping] == [
        ("10.1.0.1", 4, "clear")]  # its third change (a down) marked it; the up after it kept it open
    assert [(n.alert.device_ip, n.kind) for n in told] == [
        ("10.1.0.1", "firing"), ("10.1.0.1", "resolved"),  # the second down flapped: held
        ("10.1.0.2", "firing"), ("10.1.0.2", "resolved"), ("10.1.0.2", "firing"), ("10.1.0.2", "resolved")]
    (alert,) = flapping
    assert p.tick(at(30 + 119)).changes == ()  # not yet stable
    fx = p.tick(at(30 + 120))
    assert [(c.action, c.alert.status) for c in fx.changes] == [("cleared", Status.RESOLVED)]
    assert fx.notifications == ()  # nobody heard of this alert: nobody hears it ended
    assert alert.id not in p.state.by_id and p.state.flapping == set()


def test_a_repeat_due_while_the_alert_flaps_is_held_and_goes_out_once_it_is_stable(tmp_path) -> None:
    rules = """
    channels:
      - {name: noc, type: log}
    rules:
      - name: core-ports
        flapping: {changes: 2, window: 5m, stable: 2m}
        notify: {channels: [noc], repeat_interval: 1m}
    """
    p = pipeline(tmp_path, {"oidmaps/m.yaml": MAPS, "rules/r.yaml": rules})
    (alert,) = p.process(port(LINK_DOWN, "10.1.0.1", 0)).created
    assert p.process(port(LINK_UP, "10.1.0.1", 10)).notifications == ()  # the second change: flapping, kept open
    assert p.state.by_id[alert.id].custom_fields["flapping"] is True
    p.process(port(LINK_DOWN, "10.1.0.1", 20))  # down again: an occurrence of the same alert
    assert p.tick(at(60)).notifications == ()  # the repeat is due, but it flaps: held
    assert p.tick(at(139)).notifications == ()
    fx = p.tick(at(140))  # stable for 2m, down: open, and the held repeat goes out
    assert [(n.alert.id, n.kind) for n in fx.notifications] == [(alert.id, "released")]
    assert p.state.by_id[alert.id].custom_fields["flapping"] is False
    assert [n.kind for n in p.tick(at(200)).notifications] == ["repeat"]  # and repeats go on
