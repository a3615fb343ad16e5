"""The decision trail's typed events (engine/events.py): every kind's row round-trips, rows
older versions wrote still decode, and each kind has its sentence."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsconductor.engine import events
from opsconductor.engine.events import KINDS, Decision, Deduplicated, Other, decode, describe_history
from opsconductor.engine.model import HistoryAction, Status

# Keys older rows wrote only to tell their kind (the detail's `kind` says it now).
MARKERS = {"silenced", "throttled", "matched"}
ROWS = json.loads((Path(__file__).parent / "fixtures" / "decision_details.json").read_text())


@pytest.mark.parametrize("row", ROWS["current"], ids=lambda r: r["detail"]["kind"])
def test_a_stored_detail_decodes_to_its_kind_and_encodes_back_exactly(row):
    event = decode(row["stage"], row["detail"])
    assert type(event) is KINDS[row["detail"]["kind"]] and event.STAGE == row["stage"]
    assert event.encode() == row["detail"] == events.DecisionEvent.encode(event)  # generated == the loop
    assert decode(row["stage"], json.loads(json.dumps(event.encode()))) == event  # through JSONB and back
    assert event.describe() == row["describe"]


def test_every_kind_has_a_stored_example_and_a_stage():
    assert {r["detail"]["kind"] for r in ROWS["current"]} == set(KINDS)
    assert {k.STAGE for k in KINDS.values()} <= set(events.STAGES) == set(events.VERBS)


@pytest.mark.parametrize("row", ROWS["legacy"], ids=lambda r: r["kind"])
def test_rows_written_before_details_named_their_kind_still_decode(row):
    event = decode(row["stage"], row["detail"])
    assert type(event) is KINDS[row["kind"]]
    said = {k: tuple(v) if isinstance(v, list) else v for k, v in row["detail"].items() if k not in MARKERS}
    assert {k: getattr(event, k) for k in said} == said  # nothing the old row said is lost
    assert decode(row["stage"], event.encode()) == event
    assert event.describe() and "=" not in event.describe()


def test_every_legacy_shape_of_a_kind_is_covered():
    assert {r["kind"] for r in ROWS["legacy"]} == set(KINDS)


@pytest.mark.parametrize("detail", [{}, None, {"trap": "linkDown"}, {"kind": "from-a-later-version", "x": 1},
                                    {"kind": "dedup"}, {"severity": "major"}])
def test_a_detail_of_no_known_kind_is_kept_and_shown_as_it_is(detail):
    event = decode("correlate", detail)
    assert isinstance(event, Other) and event.encode() == dict(detail or {})
    assert event.describe() == ", ".join(f"{k}={v}" for k, v in (detail or {}).items() if k != "kind")


def test_a_decision_takes_its_stage_from_its_kind():
    d = Decision("a", "dedup", Deduplicated(3))
    assert (d.stage, d.detail.describe()) == ("correlate", "deduplicated (occurrence 3)")


def test_history_rows_as_sentences():
    assert describe_history(HistoryAction.ACKNOWLEDGED, Status.ACTIVE, Status.ACKNOWLEDGED, "otto", "looking") == \
        "acknowledged (active → acknowledged) by otto — looking"
    assert describe_history(HistoryAction.CREATED, None, Status.SUPPRESSED, "engine") == "created (suppressed) by engine"
    assert describe_history("occurrence", None, None, "engine", None, {"occurrences": 3, "occurrence_count": 9}) == \
        "occurrence: 3 more, 9 in all by engine"
    assert describe_history("flapping", Status.ACTIVE, Status.ACTIVE) == "flapping (active → active)"
