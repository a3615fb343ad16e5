"""Ad-hoc silences (the database's) hold notifications like the ones in rules/: loaded into
the engine's view once, matched from memory, named adhoc-<id> in the trail."""
from __future__ import annotations

import psycopg
from pipeline_helpers import COLD_START, at, pipeline, trap

from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.store import silences as store
from opsconductor.engine.store.direct import create_silence
from opsconductor.engine.store.decisions import DecisionEntry

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
    notify: {channels: [noc]}
"""
FILES = {"oidmaps/m.yaml": MAPS, "rules/r.yaml": RULES}


def test_a_stored_silence_holds_then_releases(tmp_path, db_url) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        made = create_silence(conn, {"device_ip": {"cidr": "10.2.0.0/16"}}, at(-600), at(1800), "otto", "switch swap",
                              now=at(-600))
        create_silence(conn, {"device_ip": "10.9.9.9"}, at(-7200), at(-3600), "otto", "over already", now=at(-7200))
        loaded = store.live(conn, now=at(0))
    assert [s.id for s in loaded] == [made.id]  # the ended one is not loaded
    p = pipeline(tmp_path, FILES)
    p.state.set_silences(loaded)  # what Engine.start does
    fx = p.process(trap(COLD_START, "10.2.0.7"))
    (alert,) = fx.created
    assert fx.notifications == ()
    (decision,) = [d for d in fx.decisions if d.stage == "route"]
    assert decision.rule == f"silence:adhoc-{made.id}" and decision.detail.owner == "otto"
    entry = DecisionEntry(1, alert.id, "route", decision.rule, None, decision.detail.encode(), at(0))
    assert entry.event == decision.detail  # as stored and read back
    assert "silenced: notifications held" in entry.describe() and "switch swap" in entry.describe()
    assert [n.channel for n in p.process(trap(COLD_START, "10.3.0.1", at=1)).notifications] == ["noc"]
    released = p.tick(at(1801))
    assert [(n.alert.id, n.kind) for n in released.notifications] == [(alert.id, "released")]


def test_validate_never_sees_stored_silences(tmp_path, db_url) -> None:
    """The tree is the tree: a silence in the database is not config."""
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with psycopg.connect(db_url, autocommit=True) as conn:
        create_silence(conn, {"device_ip": "10.2.0.7"}, at(-600), at(1800), "otto", "switch swap", now=at(-600))
    result = load_tree(tmp_path, environ={})
    assert not result.errors and result.bundle.silences == ()


def test_silence_commands_change_the_view_at_once(tmp_path) -> None:
    """The command stage (pipeline/silencing.py): created, matched by the next event, refused
    when it cannot be, ended at once, and over by its own time at the tick."""
    from opsconductor.engine.pipeline.commands import Outcome
    from opsconductor.engine.pipeline.effects import Effects
    from opsconductor.engine.pipeline.silences import SilenceAction
    from opsconductor.engine.pipeline.silencing import CreateSilence, EndSilence, undone

    p = pipeline(tmp_path, FILES)
    made = p.command(CreateSilence(7, {"device_ip": "10.2.0.7"}, at(0), at(600), "otto", "switch swap"), at(0))
    assert made.answer.outcome is Outcome.APPLIED and [c.action for c in made.silences] == [SilenceAction.CREATED]
    assert made.silences[0].describe().startswith("silence adhoc-7 created by otto: device_ip = 10.2.0.7,")
    (held,) = p.process(trap(COLD_START, "10.2.0.7", at=1)).created
    assert held.id in p.state.held
    for bad, field in [(CreateSilence(7, {"device_ip": "10.2.0.8"}, at(1), at(60), "otto", "again"), "silence_id"),
                       (CreateSilence(8, {"devcie_ip": "x"}, at(1), at(60), "otto", "typo"), "matchers"),
                       (CreateSilence(8, {"device_ip": "10.2.0.8"}, at(-60), at(0), "otto", "over"), "ends_at")]:
        refused = p.command(bad, at(1))
        assert (refused.answer.outcome, refused.answer.field, refused.silences) == (Outcome.REFUSED, field, ())

    ended = p.command(EndSilence(7, "vera"), at(60))
    (change,) = ended.silences
    assert (change.silence.deleted_by, change.silence.ends_at, change.before.ends_at) == ("vera", at(60), at(600))
    assert p.state.adhoc_silences == () and "adhoc-7 ended by vera" in change.describe()
    assert [(n.alert.id, n.kind) for n in p.tick(at(61)).notifications] == [(held.id, "released")]
    assert p.command(EndSilence(7, "vera"), at(61)).answer.outcome is Outcome.NOT_OPEN
    assert p.command(EndSilence(99, "vera"), at(61)).answer.outcome is Outcome.NOT_OPEN

    p.command(CreateSilence(9, {"site": "lab"}, at(61), at(120), "otto", "x"), at(61))
    p.state.apply(Effects(None, silences=(undone(change),)))  # the end of adhoc-7 was not stored: it runs again
    assert sorted(p.state.silences) == [7, 9]
    p.tick(at(120))  # adhoc-9 is over by its own time; adhoc-7 (put back) still runs
    assert sorted(p.state.silences) == [7] and [s.name for s in p.state.adhoc_silences] == ["adhoc-7"]
