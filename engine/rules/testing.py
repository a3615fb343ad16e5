"""`opsc test`: rule unit tests (rules/tests/*.yaml) through the real pipeline, in memory,
with simulated time. The same loader, compiler and stages as `serve`; no database."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Mapping

from ..config.bundle import Bundle, RuleTest
from ..config.durations import parse_duration
from ..model import Alert, RawEvent, Severity, Status, fingerprint
from ..pipeline.effects import Effects, Notification
from ..pipeline.pipeline import Pipeline, default_normalizers
from ..pipeline.state import ActiveAlerts
from .host import RulesHost

# Simulated time starts on a Monday morning, so time-window rules behave predictably.
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
TEST_SOURCE = "opsc_test"
DEFAULT_TRAP_SOURCE = "192.0.2.1"


@dataclass(frozen=True)
class TestResult:
    test: RuleTest
    failure: str | None  # the first difference, or None when it passed

    @property
    def passed(self) -> bool:
        return self.failure is None

    def format(self) -> str:
        where = f"{self.test.source.file}:{self.test.source.line}"
        if self.passed:
            return f"PASS {where}: {self.test.name}"
        return f"FAIL {where}: {self.test.name}: {self.failure}"


@dataclass
class _Run:
    alerts: dict[str, Alert] = field(default_factory=dict)  # id → latest version, in creation order
    notifications: list[Notification] = field(default_factory=list)

    def add(self, fx: Effects) -> None:
        for alert in (*fx.created, *fx.occurrences, *(c.alert for c in fx.changes)):
            self.alerts[alert.id] = alert
        self.notifications.extend(fx.notifications)


def run_tests(bundle: Bundle, host: RulesHost | None = None) -> list[TestResult]:
    normalizers = {**default_normalizers(), TEST_SOURCE: normalize_test_alert}
    counter = itertools.count(1)
    pipeline = Pipeline(bundle, host or RulesHost(), normalizers=normalizers,
                        new_id=lambda: f"00000000-0000-4000-8000-{next(counter):012d}")
    try:
        return [_run_one(pipeline, bundle, test) for test in bundle.tests]
    finally:
        pipeline.close()


def _run_one(pipeline: Pipeline, bundle: Bundle, test: RuleTest) -> TestResult:
    pipeline.with_state(ActiveAlerts())
    run = _Run()
    now = T0
    try:
        for i, spec in enumerate(test.events):
            if "at" in spec:
                now = T0 + timedelta(seconds=parse_duration(spec["at"]))
            run.add(pipeline.tick(now))
            event = _event(spec, bundle, now, f"{test.name}#{i}")
            if event is not None:
                run.add(pipeline.process(event, now))
    except Exception as exc:  # a failing test must say why, not crash the run
        return TestResult(test, f"the pipeline raised {type(exc).__name__}: {exc}")
    return TestResult(test, _check(test.expect, run))


def _event(spec: Mapping[str, Any], bundle: Bundle, now: datetime, event_id: str) -> RawEvent | None:
    if "trap" in spec:
        trap = spec["trap"]
        connector = trap.get("connector") or next((c.name for c in bundle.connectors if c.type == "snmp_trap"), "rule-test")
        varbinds = [{"oid": vb["oid"], "type": vb.get("type", "OctetString"), "value": _plain(vb["value"])}
                    for vb in trap.get("varbinds", ())]
        return RawEvent(event_id, connector, "snmp_trap", now, trap.get("source", DEFAULT_TRAP_SOURCE),
                        {"version": "v2c", "trap_oid": trap["oid"], "uptime": None, "agent_addr": None,
                         "varbinds": varbinds})
    if "payload" in spec:
        connector = bundle.connector(spec["connector"])
        return RawEvent(event_id, connector.name, connector.type, now, None, _plain(spec["payload"]))
    if "alert" in spec:
        return RawEvent(event_id, "rule-test", TEST_SOURCE, now, None, _plain(spec["alert"]))
    return None


def normalize_test_alert(event: RawEvent, view) -> tuple[Alert, ...]:
    """A rule test's `alert:` event: the fields given, with sensible defaults."""
    f = dict(event.payload)
    device_ip = f.get("device_ip")
    alert_type = str(f.get("alert_type", "test_alert"))
    resource_key = str(f.get("resource_key", ""))
    clears = tuple(f.get("clears", ()))
    return (Alert(
        source_system=str(f.get("source_system", TEST_SOURCE)), source_alert_id=str(f.get("source_alert_id", alert_type)),
        severity=Severity(f.get("severity", "clear" if clears else "major")), category=str(f.get("category", "unknown")),
        alert_type=alert_type, title=str(f.get("title", alert_type)), message=f.get("message"),
        occurred_at=event.received_at, received_at=event.received_at,
        fingerprint=fingerprint(str(f.get("source_system", TEST_SOURCE)), device_ip or "", alert_type, resource_key),
        device_ip=device_ip, device_name=f.get("device_name") or view.device_name(device_ip), resource_key=resource_key,
        tags=tuple(f.get("tags", ())), custom_fields=MappingProxyType(dict(f.get("custom_fields", {}))),
        is_clear=bool(clears), clears=clears, connector=event.connector),)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


# ---- expectations -------------------------------------------------------------------------

def _check(expect: Mapping[str, Any], run: _Run) -> str | None:
    alerts = list(run.alerts.values())
    if "alert_count" in expect and len(alerts) != expect["alert_count"]:
        return f"alert_count: expected {expect['alert_count']}, got {len(alerts)} ({_brief(alerts)})"
    for i, spec in enumerate(expect.get("alerts", ())):
        problem = _check_alert(i, spec, alerts, run)
        if problem:
            return problem
    if "notifications" in expect:
        return _check_notifications(expect["notifications"], run.notifications)
    return None


def _check_alert(i: int, spec: Mapping[str, Any], alerts: list[Alert], run: _Run) -> str | None:
    where = f"alerts[{i}]"
    if "match" in spec:
        found = [a for a in alerts if _fields_equal(a, spec["match"]) is None]
        if not found:
            return f"{where}: no alert matches {dict(spec['match'])} (alerts: {_brief(alerts)})"
        alert = found[-1]
    elif alerts:
        alert = alerts[-1]
    else:
        return f"{where}: no alert was created"
    diff = _fields_equal(alert, spec.get("fields", {}))
    if diff:
        return f"{where}.fields.{diff}"
    if "status" in spec and alert.status.value != spec["status"]:
        return f"{where}.status: expected {spec['status']}, got {alert.status.value}"
    if "occurrence_count" in spec and alert.occurrence_count != spec["occurrence_count"]:
        return f"{where}.occurrence_count: expected {spec['occurrence_count']}, got {alert.occurrence_count}"
    if "correlation_rule" in spec and alert.correlation_rule != spec["correlation_rule"]:
        return f"{where}.correlation_rule: expected {spec['correlation_rule']!r}, got {alert.correlation_rule!r}"
    if "correlated_to" in spec:
        root = run.alerts.get(alert.correlated_to_id or "")
        if root is None:
            return f"{where}.correlated_to: expected a link to {dict(spec['correlated_to'])}, got none"
        diff = _fields_equal(root, spec["correlated_to"])
        if diff:
            return f"{where}.correlated_to.{diff}"
    return None


def _check_notifications(expected: Any, got: list[Notification]) -> str | None:
    for i, spec in enumerate(expected):
        if i >= len(got):
            return f"notifications[{i}]: expected {dict(spec)}, got no more notifications"
        n = got[i]
        for key in ("channel", "rule", "kind"):
            if key in spec and getattr(n, key) != spec[key]:
                return f"notifications[{i}].{key}: expected {spec[key]!r}, got {getattr(n, key)!r} ({_note(n)})"
        if "alert" in spec:
            diff = _fields_equal(n.alert, spec["alert"])
            if diff:
                return f"notifications[{i}].alert.{diff}"
    if len(got) > len(expected):
        return f"notifications: expected {len(expected)}, got {len(got)}; unexpected: {_note(got[len(expected)])}"
    return None


def _fields_equal(alert: Alert, expected: Mapping[str, Any]) -> str | None:
    for key, want in expected.items():
        have = _field(alert, key)
        if isinstance(want, (tuple, list)):
            ok = [str(v) for v in (have or ())] == [str(v) for v in want]
        else:
            ok = _text(have) == _text(want)
        if not ok:
            return f"{key}: expected {_text(want)!r}, got {_text(have)!r}"
    return None


def _field(alert: Alert, key: str) -> Any:
    if key.startswith("custom_fields."):
        return alert.custom_fields.get(key.removeprefix("custom_fields."))
    value = getattr(alert, key, None)
    return value.value if isinstance(value, (Severity, Status)) else value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _brief(alerts: list[Alert]) -> str:
    return ", ".join(f"{a.alert_type}@{a.device_ip}:{a.status.value}" for a in alerts) or "none"


def _note(n: Notification) -> str:
    return f"{n.kind} {n.alert.alert_type}@{n.alert.device_ip} via {n.channel} by {n.rule}"
