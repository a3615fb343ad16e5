"""`opsc test`: rule unit tests (rules/tests/*.yaml) through the real pipeline, in memory, with
simulated time. The same loader, compiler and stages as `serve`; no database, no network.
Hot reload and git sync run the same `run_tests` before they apply a version."""
from __future__ import annotations

import itertools
from collections import ChainMap
from dataclasses import dataclass
from typing import Any, Mapping

from ..config.bundle import Bundle, RuleTest
from ..errors import OpscError
from ..connectors.registry import NORMALIZERS
from ..pipeline.pipeline import Pipeline
from ..rules.engine import RuleEngine
from ..rules.host import RulesHost
from . import inputs
from .expect import check
from .simulation import Simulation, StepError, offset, when

@dataclass(frozen=True)
class TestResult:
    test: RuleTest
    failure: str | None  # the first difference, or None when it passed
    timeline: tuple[str, ...] = ()  # every alert and notification with its simulated time

    @property
    def passed(self) -> bool:
        return self.failure is None

    @property
    def where(self) -> str:
        return f"{self.test.source.file}:{self.test.source.line}"

    def format(self, verbose: bool = False) -> str:
        if self.passed:
            return f"PASS {self.where}: {self.test.name}"
        line = f"FAIL {self.where}: {self.test.name}: {self.failure}"
        if verbose:
            line += "\n" + ("\n".join(f"    {t}" for t in self.timeline) or "    (nothing happened)")
        return line


def run_tests(bundle: Bundle, host: RulesHost | None = None, rules: RuleEngine | None = None) -> list[TestResult]:
    """`rules`: the generation a reload is about to put live (tested, then kept: compiled and
    loaded once); its hit counts are left as they were."""
    # A ChainMap, not a copy: the registry loads a connector type's normalizer at its first event.
    # It only reads the registry's table (typeshed types ChainMap's maps as mutable).
    normalizers = ChainMap({inputs.TEST_SOURCE: inputs.normalize_test_alert},
                           NORMALIZERS)  # type: ignore[arg-type]
    counter = itertools.count(1)
    new_id = lambda: f"00000000-0000-4000-8000-{next(counter):012d}"  # noqa: E731 - stable ids in output
    pipeline = Pipeline(bundle, host or RulesHost(), normalizers=normalizers, new_id=new_id, rules=rules)
    hits = rules.hits.copy() if rules is not None else None
    try:
        return [run_one(pipeline, bundle, test) for test in bundle.tests]
    finally:
        if rules is None:
            pipeline.close()
        else:  # the tests' matches are not the live rules' hits
            rules.hits.clear()
            rules.hits.update(hits)


def run_one(pipeline: Pipeline, bundle: Bundle, test: RuleTest) -> TestResult:
    sim = Simulation(pipeline, bundle, test, _pollers(test))
    try:
        for i, spec in enumerate(test.events):
            try:
                _step(sim, i, spec)
            except (StepError, OpscError) as exc:
                return TestResult(test, f"events[{i}] at {offset(sim.now)}: {exc}", tuple(sim.record.timeline))
        waiting = sim.record.messages.pending() if sim.record.messages else 0
        if waiting:
            sim.record.note(sim.now, f"end: {waiting} notification(s) still wait in a group (group_wait / group_interval)")
        failure = check(test.expect, sim.record)
    except Exception as exc:  # a failing test must say why, not crash the run
        failure = f"the pipeline raised {type(exc).__name__}: {exc}"
    return TestResult(test, failure, tuple(sim.record.timeline))


def _pollers(test: RuleTest) -> Any:
    """The driver of `poll:` steps, for a test that has them: it brings the polled connectors'
    code and httpx, which a test of webhook bodies, traps or alerts does not pay for."""
    if not any("poll" in spec for spec in test.events):
        return None
    from .polls import Pollers
    return Pollers


def _step(sim: Simulation, i: int, spec: Mapping[str, Any]) -> None:
    sim.advance(when(spec["at"]) if "at" in spec else sim.now)
    if "trap" in spec:
        event = inputs.trap_event(spec["trap"], sim.bundle, sim.now, sim.event_id())
        if event is None:
            sim.record.note(sim.now, "trap dropped by the receiver (wrong community, or SNMPv3 user / engine id not configured)")
        else:
            sim.process([event])
    elif "webhook" in spec:
        sim.process(inputs.webhook_events(spec["webhook"], sim.bundle, sim.now))
    elif "payload" in spec:
        sim.process([inputs.payload_event(spec, sim.bundle, sim.now, sim.event_id())])
    elif "alert" in spec:
        sim.process([inputs.alert_event(spec["alert"], sim.event_id(), sim.now)])
    elif "poll" in spec:
        assert sim.pollers is not None  # _pollers made them: the test has poll steps
        sim.process(sim.pollers.poll(spec["poll"]))
    elif "acknowledge" in spec or "resolve" in spec:
        action = "acknowledge" if "acknowledge" in spec else "resolve"
        sim.operator(action, spec[action])
    elif "silence" in spec:
        sim.start_silence(spec["silence"])
    elif "end_silence" in spec:
        sim.end_silence(spec["end_silence"])
    elif spec.get("restart"):
        sim.restart()


__all__ = ["TestResult", "run_one", "run_tests"]
