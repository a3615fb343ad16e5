"""Silences hold notifications back (and release them when they end); repeat_interval re-notifies."""
from __future__ import annotations

from pipeline_helpers import COLD_START, at, operator, pipeline, trap

from opsconductor.engine.model import HistoryAction, Status

MAPS = """
mappings:
  - oid: 1.3.6.1.6.3.1.1.5.1
    alert_type: cold_start
    category: network
    severity: major
    title: "Cold Start - {{ device_name }}"
"""
RULES = """
channels:
  - {name: noc, type: log}
rules:
  - name: tell-noc
    notify: {channels: [noc], repeat_interval: 1h}
silences:
  - name: site2-maintenance
    match: {device_ip: {cidr: 10.2.0.0/16}}
    starts_at: "2026-01-05T08:00:00Z"
    ends_at: "2026-01-05T10:00:00Z"
    owner: alice
    comment: core switch swap
  - name: weekend-lab
    match: {site: lab}
    schedule: {days: [sat, sun]}
"""
FILES = {"oidmaps/m.yaml": MAPS, "rules/r.yaml": RULES,
         "dependencies.d/d.yaml": "devices:\n  - {name: lab1, ip: 10.9.0.1, site: lab}\n"}


def test_silenced_alert_is_stored_not_notified_and_released_when_the_silence_ends(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    fx = p.process(trap(COLD_START, "10.2.0.7"))  # 09:00, inside the window
    (alert,) = fx.created
    assert alert.status is Status.ACTIVE and fx.notifications == ()
    (decision,) = [d for d in fx.decisions if d.stage == "route"]
    assert decision.rule == "silence:site2-maintenance" and decision.detail.owner == "alice"
    assert p.tick(at(3000)).notifications == ()  # 09:50, still silenced
    later = p.tick(at(3601))  # 10:00:01, the window is over and the alert still active
    assert [(n.alert.id, n.channel, n.rule, n.kind) for n in later.notifications] == [
        (alert.id, "noc", "tell-noc", "released")]
    assert p.tick(at(3700)).notifications == ()  # released once


def test_other_devices_and_weekdays_are_not_silenced(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    assert [n.channel for n in p.process(trap(COLD_START, "10.3.0.1")).notifications] == ["noc"]
    assert [n.channel for n in p.process(trap(COLD_START, "10.9.0.1", at=1)).notifications] == ["noc"]  # Monday


def test_repeat_interval_for_alerts_still_active(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (alert,) = p.process(trap(COLD_START, "10.3.0.1")).created
    assert p.tick(at(1800)).notifications == ()
    first = p.tick(at(3600))
    assert [(n.alert.id, n.kind) for n in first.notifications] == [(alert.id, "repeat")]
    assert any(getattr(d.detail, "repeat", False) for d in first.decisions)
    assert p.tick(at(3700)).notifications == ()
    assert len(p.tick(at(7200)).notifications) == 1


def test_repeat_wake_ups_of_closed_alerts_are_dropped_and_only_due_ones_are_looked_at(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    alerts = [p.process(trap(COLD_START, f"10.3.0.{n}", at=n)).created[0] for n in range(1, 6)]
    assert len(p.state.repeat_due) == 5
    assert p.state.due_repeats(at(3602)) == sorted(p.state.repeat_due)[:2]  # told at +1 s and +2 s
    p.state.apply(p.process(trap(COLD_START, "10.3.0.9", at=10)))  # unrelated traffic
    closed = alerts[0]
    from opsconductor.engine.model import evolve
    from opsconductor.engine.pipeline.effects import Change, Effects

    p.state.apply(Effects(None, changes=(Change(evolve(closed, status=Status.RESOLVED), HistoryAction.CLEARED, Status.ACTIVE),)))
    fx = p.tick(at(3603))
    assert [n.alert.id for n in fx.notifications] == [alerts[1].id, alerts[2].id]
    assert all(entry[0] > at(3603) for entry in p.state.repeat_due)  # what was due is gone: no second repeat
    assert p.tick(at(3603.5)).notifications == ()  # the next one is due at +3604
    again = p.tick(at(3603 + 3600))  # each repeats on its own interval from its last notification
    assert {n.alert.id for n in again.notifications} == {a.id for a in alerts[1:]} | {
        a.id for a in p.state.by_id.values() if a.device_ip == "10.3.0.9"}


def test_an_acknowledged_alert_is_not_repeated_and_a_resolved_one_tells_whoever_was_told(tmp_path) -> None:
    p = pipeline(tmp_path, FILES)
    (acked,) = p.process(trap(COLD_START, "10.3.0.1")).created
    (done,) = p.process(trap(COLD_START, "10.3.0.2")).created
    assert operator(p, acked.id, "acknowledge", at(60)).notifications == ()
    fx = operator(p, done.id, "resolve", at(61))
    assert [(n.alert.id, n.kind, n.channel) for n in fx.notifications] == [(done.id, "resolved", "noc")]
    assert p.state.open_alert(done.fingerprint) is None and p.state.by_id[acked.id].status is Status.ACKNOWLEDGED
    assert p.tick(at(3601)).notifications == ()  # neither is repeated
    again = p.process(trap(COLD_START, "10.3.0.2", at=3700))
    assert again.created and again.created[0].id != done.id  # a recurrence after a resolve is a new alert
    gone = operator(p, done.id, "resolve", at(3701))  # already gone: nothing, answered so
    assert gone.notifications == () and gone.changes == () and gone.answer.outcome.value == "not_open"
