"""Polling connectors in rule tests: a `poll:` step gives the vendor's answer and the
connector's own code does the rest, as in production: its requests, paging, joins and
validation (HTTP connectors, through an httpx MockTransport that serves the answer), or its
SNMP reads and judgement (SNMP pollers, through a session over the answer's OID values), then
its diff against the previous poll. One connector instance lives per test, so successive polls
diff against each other; a restart makes a new one from the rebuilt open alerts, as the
supervisor does at start (ActiveAlerts.poll_state)."""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qsl

import httpx

from ..config.bundle import ConnectorConfig
from ..config.secrets import Secret
from ..connectors.base import TokenPollingConnector
from ..connectors.registry import connector_class
from ..connectors.snmp.poller import SnmpPoller
from ..connectors.snmp.targets import NoAnswer, SnmpSession, Target
from ..model import RawEvent
from .inputs import plain
from .simulation import StepError

if TYPE_CHECKING:
    from .simulation import Simulation

TEST_SECRET = "opsc-rule-test-secret"
# The connectors' warnings (a target that did not answer) belong to the test's outcome, not the log.
_QUIET = logging.getLogger("opsconductor.ruletest.connectors")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class Pollers:
    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self._live: dict[str, tuple[Any, "AnswerBook", list[RawEvent]]] = {}

    def restart(self) -> None:
        self._live.clear()

    def poll(self, spec: Mapping[str, Any]) -> list[RawEvent]:
        name = spec["connector"]
        if name not in self._live:
            config = self.sim.bundle.connector(name)
            assert config is not None  # the loader checked that tests name connectors that exist (config/ruletests.py)
            self._live[name] = self._make(config)
        connector, book, out = self._live[name]
        out.clear()
        book.answer = spec["answer"]
        if isinstance(connector, SnmpPoller):
            outcomes = [_read(connector, t, spec["answer"]) for t in connector.targets]
            connector.conclude(outcomes)
            # A target that does not answer is part of the story (device_unreachable); one whose
            # answer the poller cannot read is a test that gives a wrong answer.
            broken = [f"{t.name}: {r}" for t, r in outcomes if isinstance(r, Exception) and not isinstance(r, NoAnswer)]
            if broken:
                raise StepError(f"poll of {name}: the poller cannot read the answer: {'; '.join(broken)}")
            return list(out)
        run_coroutine(connector.poll_once())
        status = connector.status()
        if status.status == "failing":
            missing = f"; unanswered: {', '.join(book.unanswered)} (answer keys: {', '.join(map(str, book.answer)) or 'none'})" \
                if book.unanswered else ""
            raise StepError(f"poll of {name} failed: {status.error_message}{missing}")
        return list(out)

    def _make(self, config: ConnectorConfig) -> tuple[Any, "AnswerBook", list[RawEvent]]:
        config = with_test_secrets(config)
        out: list[RawEvent] = []
        book = AnswerBook()
        options: dict[str, Any] = {"clock": lambda: self.sim.now, "rng": lambda: 0.5,
                                   "previous_state": self.sim.pipeline.state.poll_state(config.name)}
        factory = connector_class(config.type)
        try:
            connector = factory(config, out.extend, transport=httpx.MockTransport(book.reply), **options)
        except TypeError:  # an SNMP poller: no HTTP transport
            connector = factory(config, out.extend, **options)
            if not isinstance(connector, SnmpPoller):  # never a connector that could reach the network
                raise StepError(f"connector {config.name} ({config.type}) cannot be polled in a rule test") from None
        connector.log = _QUIET
        if isinstance(connector, TokenPollingConnector):
            connector._set_token("opsc-rule-test-token", None)  # logged in: the test gives the data, not the login
        return connector, book, out


def run_coroutine(coro: Any) -> Any:
    """asyncio.run, also when the caller's thread already runs a loop (a reload started from
    one): then the poll gets a thread and a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1, thread_name_prefix="opsc-ruletest-poll") as pool:
        return pool.submit(asyncio.run, coro).result()


# ---- HTTP ------------------------------------------------------------------------------------

class AnswerBook:
    """Serves one poll's answer: keys "[METHOD ]/path[?param=value&…][#text]", the path may be
    "//host/path" (connectors with several targets). A request matches a key when the method
    and host (if given) and the path are its, it carries every parameter the key names, and its
    body contains `text` (SOAP actions share a path). The most specific key wins."""

    def __init__(self) -> None:
        self.answer: Mapping[str, Any] = {}
        self.unanswered: list[str] = []

    def reply(self, request: httpx.Request) -> httpx.Response:
        best, score = None, -1
        params = set(parse_qsl(request.url.query.decode() if isinstance(request.url.query, bytes)
                               else str(request.url.query), keep_blank_values=True))
        content = request.content.decode("utf-8", "replace")
        for key, body in self.answer.items():
            key, _, needle = str(key).partition("#")
            if needle and needle not in content:
                continue
            method, _, target = key.rpartition(" ")
            host = None
            if target.startswith("//"):
                host, _, target = target[2:].partition("/")
                target = "/" + target
            path, _, query = target.partition("?")
            wanted = set(parse_qsl(query, keep_blank_values=True))
            if (method and method.upper() != request.method) or (host and host != request.url.host) \
                    or path != request.url.path or not wanted <= params:
                continue
            specific = len(wanted) + bool(method) + bool(host) + bool(needle)
            if specific > score:
                best, score = body, specific
        if score < 0:
            self.unanswered.append(f"{request.method} {request.url.path}")
            return httpx.Response(404, json={"error": f"the rule test gives no answer for {request.method} "
                                                      f"{request.url.path}"})
        if isinstance(best, str):
            kind = "application/xml" if best.lstrip().startswith("<") else "text/plain"
            return httpx.Response(200, text=best, headers={"Content-Type": kind})
        return httpx.Response(200, content=json.dumps(plain(best)).encode(), headers={"Content-Type": "application/json"})


# ---- SNMP -----------------------------------------------------------------------------------

class AnswerSession(SnmpSession):
    """GET and WALK over a target's answer (OID → value); the poller's TABLE reads through them."""

    def __init__(self, values: Mapping[str, Any], target: Target):
        self.target = target
        self.values = {str(k).strip("."): v for k, v in values.items()}

    async def get(self, *oids: str) -> dict[str, Any]:
        return {o: self.values[o] for o in oids if self.values.get(o) is not None}

    async def walk(self, base: str) -> dict[str, Any]:
        prefix = base.strip(".") + "."
        rows = [(tuple(int(x) for x in o.split(".")), o, v) for o, v in self.values.items() if o.startswith(prefix)]
        return {o: v for _, o, v in sorted(rows)}


def _read(poller: SnmpPoller, target: Target, answer: Mapping[str, Any]) -> tuple[Target, Any]:
    values = answer.get(target.host, answer.get(target.name))
    if values is None:
        return target, NoAnswer("no answer (the test gives none for this target)")
    try:
        return target, run_coroutine(poller.read(AnswerSession(values, target), target))
    except Exception as exc:  # noqa: BLE001 - one target's failure is that target's, as in poll_once
        return target, exc


# ---- secrets ----------------------------------------------------------------------------------

def with_test_secrets(config: ConnectorConfig) -> ConnectorConfig:
    """The connector's config with a stand-in for every secret not set here: a test gives the
    vendor's answers, and credentials are not what it checks."""
    def swap(value: Any) -> Any:
        if isinstance(value, Secret):
            return value if value.available else Secret(value.reference, TEST_SECRET)
        if isinstance(value, Mapping):
            return MappingProxyType({k: swap(v) for k, v in value.items()})
        if isinstance(value, tuple):
            return tuple(swap(v) for v in value)
        return value
    return replace(config, settings=swap(config.settings))
