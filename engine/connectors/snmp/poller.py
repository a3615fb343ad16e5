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
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping

from ...config.bundle import ConnectorConfig
from ...config.secrets import Secret, SecretUnavailable, mask_text
from ...errors import ConnectorError, OpscError
from ...model import RawEvent
from ..base import Clock, Connector, EventSink, poll_forever, utcnow
from .poll_alerts import UNREACHABLE

DEFAULT_PORT = 161
CONCURRENCY = 16  # targets polled at once


class NoAnswer(OpscError):
    """The target did not answer usably (timeout, or a v3 authentication/privacy refusal)."""


class BadAnswer(OpscError):
    """The target answered with an SNMP error status: nothing is known about it this time."""


@dataclass(frozen=True)
class Credentials:
    """How a target is asked: a v2c community, or a v3 user with its protocols and keys.
    Plain values (pysnmp's objects are made from them in session.py, on the wire)."""
    community: str | None = None
    user: str | None = None
    auth_protocol: str | None = None  # the config's names: sha256, aes, …
    auth_key: str | None = None
    priv_protocol: str | None = None
    priv_key: str | None = None


@dataclass(frozen=True)
class Target:
    host: str
    name: str
    port: int
    version: str  # "2c" | "3"
    auth: Credentials = field(repr=False)  # holds revealed secrets
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    named: bool = True  # `name` was configured (else the inventory name wins)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _reveal(connector: str, value: Any, where: str) -> str:
    if not isinstance(value, Secret):
        raise ConnectorError(connector, "must be a secret reference such as ${env:NAME}", field=where)
    try:
        return value.reveal()
    except SecretUnavailable as exc:
        raise ConnectorError(connector, f"{value.reference}: {exc}", field=where) from None


def _usm(connector: str, user: Mapping, where: str) -> Credentials:
    auth, priv = user.get("auth_protocol"), user.get("priv_protocol")
    if priv and not auth:
        raise ConnectorError(connector, f"v3 user {user['user']!r}: priv_protocol needs auth_protocol", field=where)
    keys = {k: _reveal(connector, user.get(k), f"{where}.{k}") for k, on in (("auth_key", auth), ("priv_key", priv)) if on}
    for k in (k for k, v in keys.items() if len(v) < 8):
        raise ConnectorError(connector, f"v3 user {user['user']!r}: {k} is shorter than 8 characters "
                                        "(RFC 3414 passphrases need at least 8)", field=where)
    return Credentials(user=user["user"], auth_protocol=auth, auth_key=keys.get("auth_key"),
                       priv_protocol=priv, priv_key=keys.get("priv_key"))


def targets_of(config: ConnectorConfig, defaults: Mapping[str, Any]) -> tuple[Target, ...]:
    """The configured targets with secrets revealed and thresholds merged (code defaults <
    connector `thresholds` < target `thresholds`). Errors name the key."""
    settings = config.settings
    users = {u["user"]: (i, u) for i, u in enumerate(settings.get("v3_users") or ())}
    base = {**defaults, **(settings.get("thresholds") or {})}
    out, names = [], set()
    for i, t in enumerate(settings.get("targets") or ()):
        where = f"targets[{i}]"
        version = str(t.get("version", "2c"))
        if version == "3":
            if t.get("v3_user") not in users:
                raise ConnectorError(config.name, f"v3_user {t.get('v3_user')!r} is not one of v3_users "
                                                  f"({', '.join(users) or 'none configured'})", field=f"{where}.v3_user")
            j, user = users[t["v3_user"]]
            auth = _usm(config.name, user, f"v3_users[{j}]")
        else:
            if t.get("community") is None:
                raise ConnectorError(config.name, "a v2c target needs `community` (a secret reference)",
                                     field=f"{where}.community")
            auth = Credentials(community=_reveal(config.name, t["community"], f"{where}.community"))
        for key, value in (t.get("thresholds") or {}).items():
            if key not in defaults or not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConnectorError(config.name, f"{key}: expected a number, one of {', '.join(defaults)}",
                                     field=f"{where}.thresholds")
        name = str(t.get("name") or t["host"])
        if name in names:
            raise ConnectorError(config.name, f"two targets are named {name!r}; give each a unique `name`", field=where)
        names.add(name)
        out.append(Target(str(t["host"]), name, int(t.get("port", DEFAULT_PORT)), version, auth,
                          MappingProxyType({**base, **(t.get("thresholds") or {})}), bool(t.get("name"))))
    if not out:
        raise ConnectorError(config.name, "no targets configured", field="targets")
    return tuple(out)


class SnmpSession(ABC):
    """GET and WALK against one target: session.AgentSession asks the agent (pysnmp, with the
    connector's timeout and retries); rule tests read the test's answer instead."""

    target: Target

    @abstractmethod
    async def get(self, *oids: str) -> dict[str, Any]:
        """oid → value for the OIDs the agent has (noSuchObject/noSuchInstance are left out)."""

    @abstractmethod
    async def walk(self, base: str) -> dict[str, Any]:
        """Every oid → value under `base`, in OID order."""

    async def table(self, entry: str, columns: Mapping[int, str]) -> dict[str, dict[str, Any]]:
        """index → {column name: value} for the given columns of a table entry OID."""
        rows: dict[str, dict[str, Any]] = {}
        for column, label in columns.items():
            base = f"{entry}.{column}"
            for oid, value in (await self.walk(base)).items():
                if value is not None:
                    rows.setdefault(oid[len(base) + 1:], {})[label] = value
        return rows


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
