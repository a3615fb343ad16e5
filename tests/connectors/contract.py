"""The contract every polling connector passes (cf. Alertmanager's notify/test): raise →
repeat → clear, restart with previous state, paging to the end, bounded retries with backoff,
Retry-After, timeouts, bad vendor data that fails a poll without clearing anything, and
secrets that never show up in status, exceptions, events or logs.

A connector's test module describes its vendor with a `Kit` and subclasses `ContractTests`.
Connectors are configured through the real loader from a YAML file; vendors are the fakes in
tests/fakes/ (in-process over httpx.ASGITransport, or a real uvicorn server for timeouts).
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import httpx
import pytest
import yaml

from fakes.scenario import Scenario, echo, html_page, huge, rate_limited, serve, server_error, slow, unauthorized
from waiting import aeventually
from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.base import Backpressure
from opsconductor.engine.connectors.registry import NORMALIZERS, connector_class
from opsconductor.engine.errors import ConnectorError
from opsconductor.engine.model import Severity
from opsconductor.engine.pipeline.context import ConfigView

MAX_BODY = 256 * 1024


@dataclass
class Kit:
    type: str
    config: dict[str, Any]  # the connector file (url is filled in)
    env: dict[str, str]  # secret environment variables, with recognizable values
    fake: Callable[[Scenario], Any]  # Scenario → fake with an `.app`
    scenario: Callable[[], Scenario]  # a fresh scenario that accepts the credentials
    add: Callable[[Scenario, int], None]  # problem i is current at the vendor
    resolve: Callable[[Scenario, int], None]  # problem i recovered / cleared / ended
    key: Callable[[int], str]  # the connector's key of problem i
    list_path: str  # the paged endpoint
    break_types: Callable[[Scenario], str]  # corrupts one field; returns the field path the error must name
    leaks: tuple[str, ...] = ()  # more strings that must never show (runtime tokens)
    page_size: int = 10
    is_list: Callable[[Any], bool] = lambda seen: True  # which requests to list_path are the paged list
    refused_login: int | None = None  # the HTTP status a token login with a wrong password gets

    def list_requests(self, scenario: Scenario) -> int:
        return len([s for s in scenario.requests(self.list_path) if self.is_list(s)])

    @property
    def markers(self) -> tuple[str, ...]:
        return (*self.env.values(), *self.leaks)


class Harness:
    """One fake vendor and the connector(s) polling it, with recorded events and sleeps."""

    def __init__(self, kit: Kit, tmp_path, *, url: str = "http://vendor.test", in_process: bool = True,
                 **overrides: Any):
        self.kit, self.tmp_path = kit, tmp_path
        self.scenario = kit.scenario()
        self.fake = kit.fake(self.scenario)
        self.in_process = in_process
        self.events: list = []
        self.sleeps: list[float] = []
        self.set_config(url, **overrides)
        self.connector = self.new_connector()

    def set_config(self, url: str, **overrides: Any) -> None:
        folder = self.tmp_path / "connectors.d"
        folder.mkdir(exist_ok=True)
        data = {**self.kit.config, "url": url, **overrides}
        (folder / f"{self.kit.type}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        bundle = load_bundle(self.tmp_path)
        self.config = bundle.connectors[0]
        self.view = ConfigView(bundle)

    def sink(self, events: list) -> None:
        self.events.extend(events)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def new_connector(self, previous_state=None, sink=None, **options: Any):
        transport = httpx.ASGITransport(app=self.fake.app) if self.in_process else None
        return connector_class(self.kit.type)(self.config, sink or self.sink, previous_state=previous_state,
                                              transport=transport, sleep=self.sleep, rng=lambda: 0.5,
                                              max_body_bytes=MAX_BODY, **options)

    async def poll(self) -> list[tuple[str, str]]:
        events = await self.connector.poll_once()
        return [(e.payload["state"], e.payload["key"]) for e in events]

    def normalize(self, event) -> Any:
        (alert,) = NORMALIZERS[self.kit.type](event, self.view)
        return alert


def run(coro) -> Any:
    return asyncio.run(coro)


def serialized_state(state: dict) -> dict:
    """previous_state as the engine rebuilds it: JSON out of the database's raw_data."""
    return json.loads(json.dumps(state))


class ContractTests:
    kit: ClassVar[Kit]

    @pytest.fixture
    def h(self, tmp_path, monkeypatch) -> Harness:
        for name, value in self.kit.env.items():
            monkeypatch.setenv(name, value)
        return Harness(self.kit, tmp_path)

    def test_raise_repeat_clear(self, h: Harness) -> None:
        async def body():
            k = h.kit
            k.add(h.scenario, 1)
            assert await h.poll() == [("raise", k.key(1))]
            assert await h.poll() == []  # unchanged: nothing
            k.resolve(h.scenario, 1)
            assert await h.poll() == [("clear", k.key(1))]
            assert await h.poll() == []
            raised, cleared = (h.normalize(e) for e in h.events)
            assert cleared.is_clear and cleared.severity is Severity.CLEAR
            assert cleared.clears == (raised.alert_type,) and not raised.is_clear
            assert (cleared.fingerprint, cleared.resource_key, cleared.device_ip) == \
                   (raised.fingerprint, raised.resource_key, raised.device_ip)
            assert raised.source_system == k.type and raised.connector == h.config.name
            assert raised.source_alert_id == k.key(1)
            status = h.connector.status()
            assert (status.status, status.error_message, status.alerts_received) == ("ok", None, 2)
            assert status.last_success_at == status.last_poll_at is not None
            await h.connector.stop()
        run(body())

    def test_restart_neither_reraises_nor_misses_clears(self, h: Harness) -> None:
        async def body():
            k = h.kit
            k.add(h.scenario, 1)
            k.add(h.scenario, 2)
            assert sorted(await h.poll()) == [("raise", k.key(1)), ("raise", k.key(2))]
            last_known = serialized_state(h.connector.state)
            await h.connector.stop()
            k.resolve(h.scenario, 2)  # recovers while the engine is down
            h.connector = h.new_connector(previous_state=last_known)
            h.events.clear()
            assert await h.poll() == [("clear", k.key(2))]
            assert dict(h.events[0].payload["item"]) == last_known[k.key(2)]
            await h.connector.stop()
        run(body())

    def test_paging_followed_to_the_end(self, h: Harness) -> None:
        async def body():
            n = 2 * h.kit.page_size + 5  # three pages
            for i in range(1, n + 1):
                h.kit.add(h.scenario, i)
            got = await h.poll()
            assert sorted(key for _, key in got) == sorted(h.kit.key(i) for i in range(1, n + 1))
            assert h.kit.list_requests(h.scenario) == 3
            await h.connector.stop()
        run(body())

    @pytest.mark.parametrize("fault,expect", [
        (lambda p: html_page(path=p), "expected JSON, got an HTML page"),
        (lambda p: html_page(status=502, path=p, times=99), "HTML page"),
        (lambda p: server_error(times=99, path=p), "HTTP 500"),
        (lambda p: huge(2 * MAX_BODY, path=p), "refused"),
        (lambda p: huge(2 * MAX_BODY, chunked=True, path=p), "refused"),
        (lambda p: server_error(status=404, path=p), "HTTP 404"),
        (lambda p: unauthorized(times=99, path=p), "refused"),
    ], ids=["html", "html-502", "500", "huge", "huge-chunked", "404", "401"])
    def test_fault_fails_the_poll_and_keeps_alerts(self, h: Harness, fault, expect: str) -> None:
        async def body():
            h.kit.add(h.scenario, 1)
            assert await h.poll() == [("raise", h.kit.key(1))]
            h.scenario.inject(fault(h.kit.list_path))
            assert await h.poll() == []  # nothing raised, nothing cleared
            status = h.connector.status()
            assert status.status == "failing"
            assert h.config.name in status.error_message and expect in status.error_message
            assert h.connector.state.keys() == {h.kit.key(1)}
            h.scenario.faults.clear()
            assert await h.poll() == []  # back: no re-raise
            assert h.connector.status().status == "ok"
            await h.connector.stop()
        run(body())

    def test_wrong_types_name_the_field(self, h: Harness) -> None:
        async def body():
            h.kit.add(h.scenario, 1)
            assert await h.poll() == [("raise", h.kit.key(1))]
            field_path = h.kit.break_types(h.scenario)
            assert await h.poll() == []
            message = h.connector.status().error_message
            assert h.connector.status().status == "failing" and field_path in message, message
            await h.connector.stop()
        run(body())

    def test_wrong_password_names_the_field_not_the_secret(self, h: Harness) -> None:
        if h.kit.refused_login is None:
            pytest.skip(f"{h.kit.type} has no token login")
        h.scenario.set(password="other")
        assert run(h.poll()) == []
        message = h.connector.status().error_message
        assert message.startswith(f"{h.kit.config['name']}: password: login refused (HTTP {h.kit.refused_login})")
        assert not any(marker in message for marker in h.kit.markers)

    def test_not_json(self, h: Harness) -> None:
        from fakes.scenario import body as raw
        async def body():
            h.scenario.inject(raw("{'sensors': oops", path=h.kit.list_path))
            assert await h.poll() == []
            assert "invalid JSON" in h.connector.status().error_message
            await h.connector.stop()
        run(body())

    def test_json_python_cannot_read(self, h: Harness) -> None:
        """Valid JSON the standard library refuses (an integer of 5,000 digits): a failed poll
        that says so, not an AttributeError from reading a JSONDecodeError's position."""
        from fakes.scenario import body as raw
        async def body():
            h.scenario.inject(raw('{"sensors": ' + "1" * 5000 + "}", path=h.kit.list_path))
            assert await h.poll() == []
            assert "JSON that cannot be read" in h.connector.status().error_message
            await h.connector.stop()
        run(body())

    def test_5xx_recovers_within_the_poll_with_backoff(self, h: Harness) -> None:
        async def body():
            h.kit.add(h.scenario, 1)
            h.scenario.inject(server_error(times=2, path=h.kit.list_path), server_error(503, path=h.kit.list_path))
            assert await h.poll() == [("raise", h.kit.key(1))]
            assert h.connector.status().status == "ok"
            assert len(h.sleeps) == 3 and h.sleeps == sorted(h.sleeps) and h.sleeps[0] < h.sleeps[-1]
            await h.connector.stop()
        run(body())

    def test_retries_are_bounded(self, h: Harness) -> None:
        async def body():
            h.scenario.inject(server_error(times=99, path=h.kit.list_path))
            assert await h.poll() == []
            assert h.kit.list_requests(h.scenario) == h.config.retries + 1
            assert len(h.sleeps) == h.config.retries
            assert f"after {h.config.retries + 1} attempts" in h.connector.status().error_message
            await h.connector.stop()
        run(body())

    def test_retry_after_is_honoured(self, h: Harness) -> None:
        async def body():
            h.kit.add(h.scenario, 1)
            h.scenario.inject(rate_limited(7, path=h.kit.list_path))
            assert await h.poll() == [("raise", h.kit.key(1))]
            assert h.sleeps == [7.0]
            h.scenario.inject(rate_limited(3600, path=h.kit.list_path))  # longer than we wait: fail now
            assert await h.poll() == []
            assert h.sleeps == [7.0] and "retry after 3600 s" in h.connector.status().error_message
            await h.connector.stop()
        run(body())

    def test_slow_response_times_out(self, tmp_path, monkeypatch) -> None:
        for name, value in self.kit.env.items():
            monkeypatch.setenv(name, value)

        async def body():
            h = Harness(self.kit, tmp_path, in_process=False, timeout="300ms", retries=1)
            async with serve(h.fake.app) as url:
                h.set_config(url, timeout="300ms", retries=1)
                h.connector = h.new_connector()
                h.kit.add(h.scenario, 1)
                assert await h.poll() == [("raise", h.kit.key(1))]
                h.scenario.inject(slow(1.5, times=2, path=h.kit.list_path))
                assert await h.poll() == []
                message = h.connector.status().error_message
                assert "no answer within 0.3 s" in message and "after 2 attempts" in message, message
                assert await h.poll() == []
                assert h.connector.status().status == "ok"
                await h.connector.stop()
        run(body())

    def test_backpressure_offers_events_again(self, h: Harness) -> None:
        calls = []

        def busy_once(events):
            calls.append(len(events))
            if len(calls) == 1:
                raise Backpressure("queue full")
            h.events.extend(events)

        async def body():
            h.connector = h.new_connector(sink=busy_once)
            h.kit.add(h.scenario, 1)
            assert await h.poll() == []
            assert h.connector.status().status == "degraded"
            assert await h.poll() == [("raise", h.kit.key(1))]
            assert h.connector.status().status == "ok"
            await h.connector.stop()
        run(body())

    def test_scheduler_polls_and_stops(self, tmp_path, monkeypatch) -> None:
        for name, value in self.kit.env.items():
            monkeypatch.setenv(name, value)

        async def body():
            h = Harness(self.kit, tmp_path, poll_interval="50ms")
            h.kit.add(h.scenario, 1)
            await h.connector.start()
            await aeventually(lambda: h.kit.list_requests(h.scenario) >= 3, "three polls by the scheduler")
            await h.connector.stop()
            assert [e.payload["state"] for e in h.events] == ["raise"]
            assert h.connector.status().status == "ok"
        run(body())

    def test_disabled_connector_does_not_poll(self, tmp_path, monkeypatch) -> None:
        for name, value in self.kit.env.items():
            monkeypatch.setenv(name, value)

        async def body():
            h = Harness(self.kit, tmp_path, enabled=False)
            before = asyncio.all_tasks()
            await h.connector.start()
            assert asyncio.all_tasks() == before, "a disabled connector scheduled work"  # so nothing can poll
            await h.connector.stop()
            assert h.connector.status().status == "disabled" and h.scenario.seen == []
        run(body())

    def test_secrets_never_leak(self, h: Harness, caplog) -> None:
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []

        async def body():
            h.kit.add(h.scenario, 1)
            await h.poll()
            for fault in (echo(path=h.kit.list_path), echo(status=200, path=h.kit.list_path),
                          unauthorized(times=99, path=h.kit.list_path), html_page(path=h.kit.list_path),
                          server_error(times=99, path=h.kit.list_path)):
                h.scenario.faults.clear()
                h.scenario.inject(fault)
                await h.poll()
                texts.append(h.connector.status().error_message or "")
            h.scenario.faults.clear()
            h.scenario.inject(echo(path=h.kit.list_path))
            async with h.connector.new_client() as client:
                with pytest.raises(ConnectorError) as info:
                    await h.connector.fetch(client)
            texts.extend([str(info.value), repr(info.value)])
            h.scenario.faults.clear()
            h.kit.resolve(h.scenario, 1)
            await h.poll()
            await h.connector.stop()
        run(body())
        assert all(texts), texts
        texts.extend(json.dumps(dict(e.payload), default=str) for e in h.events)
        texts.extend(repr(h.normalize(e)) for e in h.events)
        texts.append(repr(h.config))
        texts.append(caplog.text)
        texts.extend(r.getMessage() for r in caplog.records)
        blob = "\n".join(texts)
        assert "********" in blob  # the echo fault did carry the secret, masked
        for marker in h.kit.markers:
            assert marker not in blob
