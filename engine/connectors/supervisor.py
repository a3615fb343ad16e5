"""Runs the enabled connectors of the running config and reconciles them on reload:
added ones start, removed ones stop, changed ones restart, unchanged ones keep running
without a gap (a trap receiver keeps its socket). Also writes their status into the
connectors table.

A connector that cannot start (a trap port taken, a secret missing) is retried with
back-off (1 s, doubling, at most 60 s) until it starts, the config changes it or it is
removed; meanwhile it is `failing` with its error, and /healthz names it."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Callable, Mapping

from ..config.bundle import Bundle, ConnectorConfig, Source
from . import catalog
from .base import ConnectorStatus, EventSink
from .registry import RECEIVERS, connector_class

log = logging.getLogger("opsconductor.connectors")
_NO_SOURCE = Source("", 0)
RETRY_FIRST = 1.0  # seconds before the first retry of a connector that could not start
RETRY_MAX = 60.0


def served_by_web(connector_type: str) -> bool:
    """A type the web layer serves (POST /api/v1/events/{name}): nothing to start."""
    spec = catalog.get(connector_type)
    return spec is not None and spec.endpoint is not None


def identity(config: ConnectorConfig) -> ConnectorConfig:
    """What decides 'changed': everything but where in the tree it was written."""
    return replace(config, source=_NO_SOURCE)


class ConnectorSupervisor:
    def __init__(self, sink: EventSink, previous_state: Callable[[str], Mapping[str, Mapping]] = lambda name: {},
                 *, retry_first: float = RETRY_FIRST, retry_max: float = RETRY_MAX):
        self._sink = sink
        self._previous_state = previous_state
        self.running: dict[str, Any] = {}
        self._configs: dict[str, ConnectorConfig] = {}
        self.errors: dict[str, str] = {}  # connectors that could not start, and why
        self.attempts: dict[str, int] = {}  # failed starts in a row, per failing connector
        self._retry_first, self._retry_max = retry_first, retry_max
        self._retries: dict[str, asyncio.Task] = {}
        self._wanted: dict[str, ConnectorConfig] = {}

    async def reconcile(self, bundle: Bundle) -> dict[str, list[str]]:
        wanted = {c.name: c for c in bundle.connectors if c.enabled and not served_by_web(c.type)}
        report: dict[str, list[str]] = {"started": [], "stopped": [], "restarted": [], "kept": []}
        self._wanted = wanted
        for name in list(self.running):
            if name not in wanted:
                await self._stop(name)
                report["stopped"].append(name)
        for name in list(self._retries):
            if name not in wanted:
                self._cancel_retry(name)
        for name, config in wanted.items():
            if name in self.running and identity(self._configs[name]) == identity(config):
                self._configs[name] = config
                report["kept"].append(name)
                continue
            self._cancel_retry(name)  # a new config is tried now, from the first back-off step
            self.attempts.pop(name, None)
            restarting = name in self.running
            if restarting:
                await self._stop(name)
            if await self._start(config):
                report["restarted" if restarting else "started"].append(name)
        self.errors = {n: e for n, e in self.errors.items() if n in wanted}
        self.attempts = {n: k for n, k in self.attempts.items() if n in wanted}
        log.info("connectors: %s", ", ".join(f"{k} {v}" for k, v in report.items() if v) or "none enabled")
        return report

    async def _start(self, config: ConnectorConfig) -> bool:
        instance: Any  # a receiver (its own socket) or a polled connector: start, stop, status
        try:
            if config.type in RECEIVERS:
                instance = RECEIVERS[config.type](config, self._sink)
            else:
                instance = connector_class(config.type)(config, self._sink,
                                                        previous_state=self._previous_state(config.name))
            await instance.start()
        except Exception as exc:  # one broken connector must not stop the others or the engine
            attempts = self.attempts.get(config.name, 0) + 1
            delay = min(self._retry_max, self._retry_first * 2 ** (attempts - 1))
            self.attempts[config.name] = attempts
            self.errors[config.name] = f"{exc} (attempt {attempts}; retrying in {delay:g} s)"
            log.error("connector %s could not start: %s; retrying in %g s (attempt %d)", config.name, exc, delay,
                      attempts)
            self._retries[config.name] = asyncio.get_running_loop().create_task(
                self._retry(config, delay), name=f"connector-retry-{config.name}")
            return False
        if self.attempts.pop(config.name, None):
            log.info("connector %s started", config.name)
        self.errors.pop(config.name, None)
        self.running[config.name] = instance
        self._configs[config.name] = config
        return True

    async def _retry(self, config: ConnectorConfig, delay: float) -> None:
        await asyncio.sleep(delay)
        self._retries.pop(config.name, None)  # _start may schedule the next one
        wanted = self._wanted.get(config.name)
        if config.name not in self.running and wanted is not None and identity(wanted) == identity(config):
            await self._start(config)

    def _cancel_retry(self, name: str) -> None:
        task = self._retries.pop(name, None)
        if task is not None:
            task.cancel()

    def reasons(self) -> list[str]:
        """Why the connectors make the engine degraded, for /healthz."""
        return [f"connector {name} is failing: {error}" for name, error in sorted(self.errors.items())]

    async def _stop(self, name: str) -> None:
        instance = self.running.pop(name)
        self._configs.pop(name, None)
        try:
            await asyncio.wait_for(instance.stop(), timeout=15)
        except Exception as exc:
            log.error("connector %s did not stop cleanly: %s", name, exc)

    async def stop_all(self) -> None:
        for name in list(self._retries):
            self._cancel_retry(name)
        for name in list(self.running):
            await self._stop(name)

    def receivers(self) -> list[tuple[str, Any]]:
        """The running receivers (connector types with a socket of their own), for their counters on /metrics."""
        return [(name, r) for name, r in sorted(self.running.items()) if self._configs[name].type in RECEIVERS]

    def statuses(self, bundle: Bundle | None) -> list[ConnectorStatus]:
        out = []
        for config in (bundle.connectors if bundle else ()):
            instance = self.running.get(config.name)
            if not config.enabled:
                out.append(ConnectorStatus(config.name, "disabled", None, None, None, 0))
            elif served_by_web(config.type):  # receives when called; healthy while the web layer runs
                out.append(ConnectorStatus(config.name, "ok", None, None, None, 0))
            elif instance is None:
                out.append(ConnectorStatus(config.name, "failing", self.errors.get(config.name, "not running"),
                                           None, None, 0))
            else:
                out.append(instance.status())
        return out
