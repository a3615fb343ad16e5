"""Ad-hoc silences (the database's) hold notifications like the ones in rules/: loaded into
the engine's view once, matched from memory, named adhoc-<id> in the trail."""
from __future__ import annotations

import psycopg
from pipeline_helpers import COLD_START, at, pipeline, trap

from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.pipeline.silences import adhoc
from opsconductor.engine.store import silences as store
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
        made = store.create(conn, {"device_ip": {"cidr": "10.2.0.0/16"}}, at(-600), at(1800), "otto", "switch swap")
        store.create(conn, {"device_ip": "10.9.9.9"}, at(-7200), at(-3600), "otto", "over already")
        loaded = store.live(conn, now=at(0))
    assert [s.id for s in loaded] == [made.id]  # the ended one is not loaded
    p = pipeline(tmp_path, FILES)
    p.state.adhoc_silences = tuple(adhoc(s) for s in loaded)
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
        store.create(conn, {"device_ip": "10.2.0.7"}, at(-600), at(1800), "otto", "switch swap")
    result = load_tree(tmp_path, environ={})
    assert not result.errors and result.bundle.silences == ()
