"""Axis cameras (VAPIX, Digest): the shared contract (per target), reachability, the pull point
event states, independent targets and the normalizer."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

import contract
from contract import ContractTests, Harness, Kit, run
from fakes.axis import FAILURE, SCENE, AxisFake, camera, storage, tampering
from fakes.scenario import Scenario, echo, server_error
from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.axis.normalizer import normalize
from opsconductor.engine.model import RawEvent, Severity, fingerprint
from opsconductor.engine.pipeline.context import ConfigView

PASSWORD = "axis-SECRET-2b3c4d5e"
INFO = "/axis-cgi/basicdeviceinfo.cgi"


class AxisHarness(Harness):
    """Axis has no `url`: the harness's vendor URL becomes the one target `cam1`."""

    def set_config(self, url: str, **overrides) -> None:
        parts = urlsplit(url)
        target = {"host": parts.hostname, "name": "cam1", "scheme": parts.scheme}
        if parts.port:
            target["port"] = parts.port
        folder = self.tmp_path / "connectors.d"
        folder.mkdir(exist_ok=True)
        data = {**self.kit.config, "targets": [target, *self.kit.config.get("targets", [])], **overrides}
        (folder / "axis.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
        bundle = load_bundle(self.tmp_path)
        self.config = bundle.connectors[0]
        self.view = ConfigView(bundle)


def _scenario() -> Scenario:
    cam = camera()
    return Scenario(username="opsc", password=PASSWORD, cameras={"vendor.test": cam, "127.0.0.1": cam})


def _resolve(sc: Scenario, i: int) -> None:
    cam = sc.state["cameras"]["vendor.test"]
    cam["events"] = [e for e in cam["events"] if e[1].get("channel") != str(i)] + [tampering(i, on=False)]


def _break(sc: Scenario) -> str:
    from fakes.scenario import body as raw
    sc.inject(raw({"apiVersion": "1.3", "data": {"propertyList": {"ProdNbr": 3265}}}, path=INFO))
    return "cam1.basicdeviceinfo.data.propertyList.ProdNbr"


KIT = Kit(
    type="axis", config={"name": "cams", "type": "axis", "username": "opsc", "password": "${env:OPSC_TEST_AXIS_PASSWORD}"},
    env={"OPSC_TEST_AXIS_PASSWORD": PASSWORD}, fake=AxisFake, scenario=_scenario,
    add=lambda sc, i: sc.state["cameras"]["vendor.test"]["events"].append(tampering(i)),
    resolve=_resolve, key=lambda i: f"cam1/tampering/{i}", list_path=INFO, break_types=_break)


class TestAxisContract(ContractTests):
    kit = KIT

    @pytest.fixture(autouse=True)
    def _axis_harness(self, monkeypatch):
        monkeypatch.setattr(contract, "Harness", AxisHarness)

    @pytest.fixture
    def h(self, tmp_path, monkeypatch) -> Harness:
        for name, value in self.kit.env.items():
            monkeypatch.setenv(name, value)
        return AxisHarness(self.kit, tmp_path)

    def test_paging_followed_to_the_end(self, h: Harness) -> None:
        """No paging in VAPIX: every problem of a camera comes in one PullMessages answer."""
        async def body():
            for i in range(1, 26):
                KIT.add(h.scenario, i)
            got = await h.poll()
            assert sorted(k for _, k in got) == sorted(KIT.key(i) for i in range(1, 26))
            assert len(h.scenario.requests("/vapix/services/pullpoint/")) == 2  # pull + unsubscribe
            await h.connector.stop()
        run(body())

    def test_secrets_never_leak(self, h: Harness, caplog) -> None:
        """Digest never sends the password, so an echoing camera has nothing to leak: the
        password must still never show anywhere."""
        caplog.set_level(logging.DEBUG)

        async def body():
            KIT.add(h.scenario, 1)
            await h.poll()
            for fault in (echo(path=INFO), echo(status=200, path=INFO), server_error(times=99, path=INFO)):
                h.scenario.faults.clear()
                h.scenario.inject(fault)
                await h.poll()
                assert h.connector.status().error_message
            h.scenario.faults.clear()
            h.scenario.set(password="changed")  # refused: 401 after the Digest exchange
            await h.poll()
            assert "credentials refused" in h.connector.status().error_message
            await h.connector.stop()
        run(body())
        blob = "\n".join([caplog.text, repr(h.config), h.connector.status().error_message or "",
                          *(json.dumps(dict(e.payload), default=str) for e in h.events)])
        assert PASSWORD not in blob


@pytest.fixture
def two(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSC_TEST_AXIS_PASSWORD", PASSWORD)
    monkeypatch.setenv("OPSC_TEST_AXIS_PASSWORD2", "axis-OTHER-9f8e7d")
    folder = tmp_path / "connectors.d"
    folder.mkdir()
    (folder / "axis.yaml").write_text(yaml.safe_dump({
        "name": "cams", "type": "axis", "username": "opsc", "password": "${env:OPSC_TEST_AXIS_PASSWORD}",
        "targets": [{"host": "10.20.1.11", "name": "lobby"},
                    {"host": "10.20.1.12", "name": "gate", "scheme": "https", "port": 8443, "username": "svc",
                     "password": "${env:OPSC_TEST_AXIS_PASSWORD2}"},
                    {"host": "10.20.1.13", "name": "down"}]}), encoding="utf-8")
    bundle = load_bundle(tmp_path)
    sc = Scenario(username="opsc", password=PASSWORD, cameras={
        "10.20.1.11": camera(tampering(1), storage("SD_DISK")), "10.20.1.12": camera(storage("NetworkShare", topic=FAILURE))})
    fake = AxisFake(sc)
    inner = httpx.ASGITransport(app=fake.app)

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "10.20.1.13":
            raise httpx.ConnectError("[Errno 113] No route to host", request=request)
        return await inner.handle_async_request(request)

    events: list = []

    async def nosleep(_):
        return None

    from opsconductor.engine.connectors.axis.connector import AxisConnector
    conn = AxisConnector(bundle.connectors[0], events.extend, transport=httpx.MockTransport(route), sleep=nosleep,
                         rng=lambda: 0.5)
    return conn, sc, fake, events, ConfigView(bundle)


def test_targets_reachability_and_independent_failures(two) -> None:
    conn, sc, fake, events, view = two

    async def body():
        got = sorted((e.payload["state"], e.payload["key"]) for e in await conn.poll_once())
        assert got == [("raise", "down/unreachable"), ("raise", "lobby/storage_disruption/SD_DISK"),
                       ("raise", "lobby/tampering/1")]
        assert conn.status().status == "degraded" and "gate" in conn.status().error_message  # other password
        assert "credentials refused" in conn.status().error_message
        sc.state["password"] = "axis-OTHER-9f8e7d"
        sc.state["username"] = "svc"
        got = sorted((e.payload["state"], e.payload["key"]) for e in await conn.poll_once())
        # lobby now refuses (user opsc): its alerts are kept; gate is read
        assert got == [("raise", "gate/storage_failure/NetworkShare")]
        assert conn.status().status == "degraded" and "lobby" in conn.status().error_message
        unreachable = normalize(next(e for e in events if e.payload["key"] == "down/unreachable"), view)[0]
        assert (unreachable.alert_type, unreachable.severity, unreachable.device_ip) == \
               ("device_unreachable", Severity.MAJOR, "10.20.1.13")
        assert "No route to host" in unreachable.message
        assert fake.unsubscribed == 2
        await conn.stop()
    run(body())


def test_soap_fault_fails_the_target(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_AXIS_PASSWORD", PASSWORD)
    h = AxisHarness(KIT, tmp_path)
    KIT.add(h.scenario, 1)
    assert run(h.poll()) == [("raise", "cam1/tampering/1")]
    h.scenario.set(soap_fault=True)
    assert run(h.poll()) == []
    message = h.connector.status().error_message
    assert h.connector.status().status == "failing" and "cam1: CreatePullPointSubscription: HTTP 400" in message
    assert h.connector.state.keys() == {"cam1/tampering/1"}  # kept


def test_scene_change_and_stream_mode(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_AXIS_PASSWORD", PASSWORD)
    h = AxisHarness(KIT, tmp_path)
    h.scenario.state["cameras"]["vendor.test"]["events"].append((SCENE, {"Source": "0"}, {"State": "1"}))
    assert run(h.poll()) == [("raise", "cam1/tampering/0")]
    from opsconductor.engine.errors import ConnectorError
    h.set_config("http://vendor.test", mode="stream")
    with pytest.raises(ConnectorError, match="stream"):
        h.new_connector()


def _event(state: str, item: dict) -> RawEvent:
    return RawEvent(event_id="e1", connector="cams", source_system="axis",
                    received_at=datetime(2025, 6, 3, 10, 20, tzinfo=timezone.utc), source_address=item["host"],
                    payload={"state": state, "key": "k", "item": item})


@pytest.mark.parametrize("check,source,alert_type,severity,category", [
    ("tampering", {"channel": "1"}, "camera_tampering", Severity.MAJOR, "security"),
    ("storage_disruption", {"disk_id": "SD_DISK"}, "storage_disruption", Severity.MAJOR, "storage"),
    ("storage_failure", {"disk_id": "SD_DISK"}, "storage_failure", Severity.CRITICAL, "storage"),
    ("unreachable", {}, "device_unreachable", Severity.MAJOR, "video")])
def test_normalizer(tmp_path, monkeypatch, check, source, alert_type, severity, category) -> None:
    monkeypatch.setenv("OPSC_TEST_AXIS_PASSWORD", PASSWORD)
    h = AxisHarness(KIT, tmp_path)
    item = {"host": "10.20.1.11", "name": "lobby", "check": check, "source": source,
            "time": "2025-06-03T10:15:12.345Z", "model": "P3265-LVE"}
    raised = normalize(_event("raise", item), h.view)[0]
    resource = next(iter(source.values()), "device")
    assert (raised.alert_type, raised.severity, raised.category, raised.resource_key) == (alert_type, severity, category, resource)
    assert (raised.device_ip, raised.device_name) == ("10.20.1.11", "lobby")
    assert raised.fingerprint == fingerprint("axis", "10.20.1.11", alert_type, resource)
    cleared = normalize(_event("clear", item), h.view)[0]
    assert cleared.is_clear and cleared.clears == (alert_type,) and cleared.fingerprint == raised.fingerprint
