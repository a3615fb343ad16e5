"""Ubiquiti UISP connector: the shared contract, UISP specifics and the normalizer."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from contract import ContractTests, Harness, Kit, run
from fakes.scenario import Scenario
from fakes.uisp import UispFake, device, outage
from opsconductor.engine.connectors.ubiquiti.normalizer import normalize
from opsconductor.engine.model import RawEvent, Severity, fingerprint

TOKEN = "uisp-SECRET-5e6f7a8b"
OUTAGES = "/nms/api/v2.1/outages"


def _add(sc: Scenario, i: int) -> None:
    sc.state["outages"].append(outage(f"out-{i}", device_id=f"dev-{i}", name=f"AP-{i}"))
    sc.state["devices"].append(device(f"dev-{i}", f"AP-{i}", ip=f"10.60.0.{i}/24"))


def _end(sc: Scenario, i: int) -> None:
    for o in sc.state["outages"]:
        if o["id"] == f"out-{i}":
            o["endTimestamp"] = "2025-06-03T10:02:55.000Z"


def _break(sc: Scenario) -> str:
    sc.state["outages"][0]["endTimestamp"] = 12345
    return "items[0].endTimestamp"


KIT = Kit(
    type="ubiquiti", config={"name": "uisp-test", "type": "ubiquiti", "api_token": "${env:OPSC_TEST_UISP_TOKEN}",
                             "page_size": 10},
    env={"OPSC_TEST_UISP_TOKEN": TOKEN}, fake=UispFake,
    scenario=lambda: Scenario(token=TOKEN, outages=[], devices=[]),
    add=_add, resolve=_end, key=lambda i: f"out-{i}", list_path=OUTAGES, break_types=_break)


class TestUispContract(ContractTests):
    kit = KIT


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    monkeypatch.setenv("OPSC_TEST_UISP_TOKEN", TOKEN)
    return Harness(KIT, tmp_path)


def test_request_shape_and_device_join(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        await h.poll()
        first = h.scenario.requests(OUTAGES)[0]
        assert (first.param("type"), first.param("count"), first.param("page")) == ("outage", "10", "1")
        assert first.headers["x-auth-token"] == TOKEN
        alert = h.normalize(h.events[0])
        assert (alert.device_ip, alert.device_name, alert.alert_type) == ("10.60.0.1", "AP-1", "device_down")
        assert alert.category == "wireless" and alert.resource_key == "dev-1"
    run(body())


def test_no_devices_call_when_nothing_is_down(h: Harness) -> None:
    h.scenario.state["outages"].append(outage("old", ended=True))
    assert run(h.poll()) == []
    assert not h.scenario.requests("/nms/api/v2.1/devices")


def test_in_progress_flag_wins(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        h.scenario.state["outages"][0]["inProgress"] = True
        h.scenario.state["outages"][0]["endTimestamp"] = "2025-06-03T10:02:55.000Z"
        assert await h.poll() == [("raise", "out-1")]
        h.scenario.state["outages"][0]["inProgress"] = False
        assert await h.poll() == [("clear", "out-1")]
    run(body())


def test_devices_not_a_list_is_a_clear_error(h: Harness) -> None:
    from fakes.scenario import body as raw
    _add(h.scenario, 1)
    h.scenario.inject(raw({"devices": []}, path="/nms/api/v2.1/devices"))
    assert run(h.poll()) == []
    assert "expected a list of devices" in h.connector.status().error_message


def _event(state: str, item: dict) -> RawEvent:
    return RawEvent(event_id="e1", connector="uisp-test", source_system="ubiquiti",
                    received_at=datetime(2025, 6, 3, 10, 0, tzinfo=timezone.utc), source_address="uisp.test",
                    payload={"state": state, "key": item["id"], "item": item})


def test_normalizer(h: Harness) -> None:
    item = {**outage("o-1", device_id="d-9", name="stub-name"),
            "device_detail": {"id": "d-9", "name": "TN-AP-09", "ipAddress": "10.0.0.9/24", "category": "wireless",
                              "model": "R5AC-PTMP", "site": "Tower North"}}
    (alert,) = normalize(_event("raise", item), h.view)
    assert (alert.alert_type, alert.severity, alert.category) == ("device_down", Severity.MAJOR, "wireless")
    assert (alert.device_ip, alert.device_name, alert.resource_key, alert.source_alert_id) == \
           ("10.0.0.9", "TN-AP-09", "d-9", "o-1")
    assert alert.fingerprint == fingerprint("ubiquiti", "10.0.0.9", "device_down", "d-9")
    assert alert.title == "TN-AP-09 is down (Tower North)"
    assert alert.occurred_at == datetime(2025, 6, 3, 9, 41, 10, tzinfo=timezone.utc)
    (cleared,) = normalize(_event("clear", item), h.view)
    assert cleared.is_clear and cleared.clears == ("device_down",) and cleared.fingerprint == alert.fingerprint


def test_normalizer_override_and_stub_device(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_UISP_TOKEN", TOKEN)
    h = Harness(KIT, tmp_path, severity_map={"outage": "critical"})
    item = outage("o-2", device_id="d-2", name="wired-sw")
    item["device"]["category"] = "wired"
    (alert,) = normalize(_event("raise", item), h.view)
    assert (alert.severity, alert.category, alert.device_name, alert.device_ip) == \
           (Severity.CRITICAL, "network", "wired-sw", None)
