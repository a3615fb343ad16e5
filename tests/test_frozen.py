"""quick_init (engine/frozen.py) builds what the dataclass's own __init__ builds."""
from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime, timezone

import pytest

from opsconductor.engine import events, identity, model, rootcause
from opsconductor.engine.frozen import quick_init
from opsconductor.engine.pipeline import effects, work
from opsconductor.engine.rules import engine

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)


# One field list, two classes: the dataclass's own __init__ is the reference.
FIELDS = [("a", int), ("b", str, dataclasses.field(default="b")),
          ("c", tuple, dataclasses.field(default_factory=lambda: ("made",))),
          ("d", list, dataclasses.field(default_factory=list)),
          ("e", int, dataclasses.field(default=5, init=False)),
          ("f", list, dataclasses.field(default_factory=list, init=False))]
Reference = dataclasses.make_dataclass("Reference", FIELDS, frozen=True)
Sample = quick_init(dataclasses.make_dataclass("Sample", FIELDS, frozen=True))


def fields_of(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, "x"), {}), ((), {"a": 2, "d": [1]}),
                                          ((3, "y", ("t",), [4]), {})])
def test_same_instance_as_the_dataclass_init(args, kwargs):
    assert fields_of(Sample(*args, **kwargs)) == fields_of(Reference(*args, **kwargs))


def test_factories_run_per_instance_and_frozen_still_holds():
    one, two = Sample(1), Sample(1)
    assert one.d is not two.d and one.f is not two.f
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.a = 2  # type: ignore[misc]
    assert one == two and hash(Sample(1, c=("x",), d=None).c) == hash(("x",))


@pytest.mark.parametrize("args, kwargs", [((), {}), ((1, "b", (), [], 9), {}), ((1,), {"zz": 1}), ((1,), {"a": 1})])
def test_wrong_arguments_are_refused_as_by_the_dataclass(args, kwargs):
    with pytest.raises(TypeError):
        Reference(*args, **kwargs)
    with pytest.raises(TypeError):
        Sample(*args, **kwargs)


def test_post_init_is_refused():
    with pytest.raises(TypeError, match="__post_init__"):
        @quick_init
        @dataclasses.dataclass(frozen=True)
        class WithPostInit:
            a: int

            def __post_init__(self):
                pass


def test_engine_classes_build_replace_and_pickle():
    alert = model.Alert("snmp_trap", "1.3.6", model.Severity.MAJOR, "network", "link_down", "Link down",
                        NOW, NOW, "fp", device_ip="10.0.0.1")
    assert alert.custom_fields == {} and alert.clears == () and alert.status is model.Status.ACTIVE
    assert dataclasses.replace(alert, title="x").title == "x"
    assert model.RawEvent("e0", "traps", "snmp_trap", NOW, None).payload == {}
    event = model.RawEvent("e1", "traps", "snmp_trap", NOW, "10.0.0.1", {"trap_oid": "1.3.6"})
    assert pickle.loads(pickle.dumps(event)) == event  # the intake journal pickles events
    fx = effects.Effects(event)
    assert fx.created == () and fx.dropped == 0
    assert work.Work(event, NOW).effects == effects.Effects(None)
    assert work.Candidate(alert).outcome is None
    assert effects.Decision("id", "r", events.Notified(("slack",))).config_version_id is None
    assert [events.Notified(("a",), True), events.Other()] == [events.Notified(notify=("a",), repeat=True),
                                                                events.Other({})]
    assert pickle.loads(pickle.dumps(events.Deduplicated(3))) == events.Deduplicated(3)
    assert identity.Identity("k", None, None).device is None
    assert rootcause.Decision(None, None) == rootcause.Decision(None, None)
    assert engine.RuleHit.__init__.__qualname__ == "RuleHit.__init__"
