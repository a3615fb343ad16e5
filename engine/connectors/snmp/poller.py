"""SNMP polling shared by the `eaton`, `siklu` and `cradlepoint` (mode: snmp) connectors.

A vendor poller implements `read(session, target) -> Evaluation`: it GETs and WALKs through
the session and says which conditions are current problems (key → item) and which it could
not judge this time (`unknown`: their previous state is kept). The base polls all targets
concurrently on a jittered schedule, with the connector's `timeout` and `retries` per
request, and diffs per target against the previous poll: a new problem is raised, a gone one
cleared, one whose `level` changed raised again. A target that does not answer raises
`device_unreachable` and keeps every other state of that target (nothing raised or cleared)
until it answers again, which clears it. The state is flat, key "target|alert_type|resource"
→ item, so the engine can hand it back as `previous_state` from the open alerts' raw data.
"""
from __future__ import annotations

import asyncio
import random
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from ...config.bundle import ConnectorConfig
from ...config.secrets import Secret, mask_text
from ...errors import OpscError
from ...model import RawEvent
from ..base import Clock, Connector, EventSink, poll_forever, utcnow
from .poll_alerts import UNREACHABLE
from .targets import NoAnswer, SnmpSession, Target, targets_of

CONCURRENCY = 16  # targets polled at once


@dataclass
class Evaluation:
    """One target's reading: current problems (local key → item) and conditions not judged
    this time (alert types, or local keys), whose previous state is kept."""
    problems: dict[str, dict] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)

    def add(self, alert_type: str, resource: str, text: str, level: Any = None, **readings: Any) -> None:
        """A current problem. `text` says what is wrong with the measured value and the threshold;
        `level` is a discrete sub-state whose change raises the alert again (low → depleted)."""
        self.problems[f"{alert_type}|{resource}"] = {"alert_type": alert_type, "resource_key": resource,
                                                     "text": text, "level": level, **readings}


class SnmpPoller(Connector):
    """Polls SNMP targets and diffs their conditions. Subclasses set `type` and `THRESHOLDS`
    (defaults; None = not checked unless configured) and implement `read`.
    Extra keywords: `sleep` and `rng` (jitter)."""

    THRESHOLDS: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, config: ConnectorConfig, sink: EventSink, *, clock: Clock = utcnow,
                 previous_state: Mapping[str, Mapping] | None = None,
                 sleep: Callable[[float], Any] | None = None, rng: Callable[[], float] | None = None):
        super().__init__(config, sink, clock=clock, previous_state=previous_state)
        self.targets = targets_of(config, self.THRESHOLDS)
        self._secrets = _secrets_in(config.settings)
        self.state: dict[str, dict] = {str(k): dict(v) for k, v in (previous_state or {}).items()}
        self.rng = rng or random.random
        self._sleep = sleep or asyncio.sleep
        self._agents: Any = None  # session.Agents, opened at the first poll on the wire
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    @abstractmethod
    async def read(self, session: SnmpSession, target: Target) -> Evaluation:
        """Read one target and judge its conditions against `target.thresholds`."""

    def mask(self, text: str) -> str:
        return mask_text(text, self._secrets)

    async def start(self) -> None:
        if self.config.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"connector:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # stopping must not fail
        agents, self._agents = self._agents, None
        if agents is not None:
            agents.close()

    async def _run(self) -> None:
        await poll_forever(self, self._sleep)

    async def poll_once(self) -> list[RawEvent]:
        """Poll every target, diff, hand the events to the sink; returns the accepted events."""
        async with self._lock:
            self._last_poll_at = self.clock()
            if self._agents is None:
                # pysnmp (~0.1 s of imports) loads with the first poll on the wire: `opsc test`
                # builds pollers and feeds them the test's answers (conclude) without it.
                from .session import Agents
                self._agents = Agents()
            gate = asyncio.Semaphore(CONCURRENCY)
            outcomes = await asyncio.gather(*(self._poll_target(t, gate) for t in self.targets))
            return self.conclude(outcomes)

    def conclude(self, outcomes: list[tuple[Target, Any]]) -> list[RawEvent]:
        """The pure end of a poll: each target's Evaluation (or failure) merged with the previous
        state, diffed, offered to the sink, and kept when it took them. Rule tests' `poll:` steps
        come in here with the targets read from their answers."""
        current, failures = self._merge(outcomes)
        events = self.diff(current)
        if not self.offer(events):
            return []
        self.state = current
        self._emitted += len(events)
        if not failures:
            self._status, self._error = "ok", None
        else:
            self._status = "failing" if len(failures) == len(self.targets) else "degraded"
            self._error = self.mask(f"{self.name}: {len(failures)} of {len(self.targets)} target(s) failed: "
                                    + "; ".join(failures))
            self.log.warning("%s", self._error)
        if len(failures) < len(self.targets):
            self._last_success_at = self._last_poll_at
        return events

    async def _poll_target(self, target: Target, gate: asyncio.Semaphore) -> tuple[Target, Any]:
        cfg = self.config
        budget = max(cfg.poll_interval, cfg.timeout * (cfg.retries + 1) * 4)
        async with gate:
            try:
                session = await self._agents.session(target, cfg.timeout, cfg.retries)
                return target, await asyncio.wait_for(self.read(session, target), budget)
            except asyncio.CancelledError:
                raise
            except asyncio.TimeoutError:
                return target, NoAnswer(f"no complete answer within {budget:g}s")
            except Exception as exc:  # noqa: BLE001 - one target's failure is that target's only
                return target, exc

    def _merge(self, outcomes: list[tuple[Target, Any]]) -> tuple[dict[str, dict], list[str]]:
        current: dict[str, dict] = {}
        failures: list[str] = []
        for target, outcome in outcomes:
            prefix = f"{target.name}|"
            old = {k: v for k, v in self.state.items() if v.get("target") == target.name}
            stamp = {"target": target.name, "host": target.host, "port": target.port,
                     "device_name": target.name if target.named else None}
            if isinstance(outcome, Evaluation):
                current.update((prefix + local, {**stamp, **item}) for local, item in outcome.problems.items())
                for key, item in old.items():
                    kinds = {item.get("alert_type"), f"{item.get('alert_type')}|{item.get('resource_key')}"}
                    if key not in current and kinds & outcome.unknown:
                        current[key] = item
                continue
            text = str(outcome) if isinstance(outcome, OpscError) else f"{type(outcome).__name__}: {outcome}"
            failures.append(f"{target.name} ({target.address}: {self.mask(text)})")
            current.update((k, v) for k, v in old.items() if v.get("alert_type") != UNREACHABLE)
            if isinstance(outcome, NoAnswer):
                key, text = f"{prefix}{UNREACHABLE}|snmp", f"does not answer SNMP at {target.address}: {outcome}"
                current[key] = old.get(key) or {**stamp, "alert_type": UNREACHABLE, "resource_key": "snmp",
                                                "text": self.mask(text), "level": None}
            else:  # answered, but unusable: keep everything of this target as it was
                current.update((k, v) for k, v in old.items() if v.get("alert_type") == UNREACHABLE)
                if not isinstance(outcome, OpscError):
                    self.log.debug("%s: %s", target.name, self.mask(repr(outcome)))
        # problems of targets no longer configured are not kept: they clear
        return current, failures

    def diff(self, current: Mapping[str, Mapping]) -> list[RawEvent]:
        events = [self._event("clear", key, old) for key, old in self.state.items() if key not in current]
        return events + [self._event("raise", key, new) for key, new in current.items()
                         if key not in self.state or self.state[key].get("level") != new.get("level")]

    def _event(self, state: str, key: str, item: Mapping) -> RawEvent:
        return self.event({"state": state, "mode": "snmp", "key": key, "item": dict(item)}, item.get("host"))


def _secrets_in(value: Any) -> list[Secret]:
    if isinstance(value, Secret):
        return [value] if value.available else []
    values = value.values() if isinstance(value, Mapping) else value if isinstance(value, (tuple, list)) else ()
    return [s for v in values for s in _secrets_in(v)]
