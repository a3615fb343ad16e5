"""PRTG connector: the shared contract, PRTG specifics (auth, filter_status, device join,
paused sensors, status changes) and the normalizer."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from contract import ContractTests, Harness, Kit, run
from fakes.prtg import PrtgFake, device, sensor
from fakes.scenario import Scenario
from opsconductor.engine.model import RawEvent, Severity, fingerprint

TOKEN = "prtg-SECRET-9f8e7d6c"


def _scenario() -> Scenario:
    return Scenario(apitoken=TOKEN, sensors=[], devices=[device(2000, "10.1.2.3", "core-sw-01")])


def _add(sc: Scenario, i: int) -> None:
    sc.state["sensors"].append(sensor(1000 + i, 5, parentid=2000, name=f"Ping {i}"))


def _set_status(sc: Scenario, objid: int, status_raw: int) -> None:
    for row in sc.state["sensors"]:
        if row["objid"] == objid:
            row.update(status_raw=status_raw, status={3: "Up", 4: "Warning", 5: "Down", 7: "Paused by User",
                                                      13: "Down (Acknowledged)"}[status_raw])


def _break(sc: Scenario) -> str:
    sc.state["sensors"][0]["status_raw"] = "Down"
    return "sensors[0].status_raw"


KIT = Kit(
    type="prtg", config={"name": "prtg-test", "type": "prtg", "api_token": "${env:OPSC_TEST_PRTG_TOKEN}",
                         "page_size": 10},
    env={"OPSC_TEST_PRTG_TOKEN": TOKEN}, fake=PrtgFake, scenario=_scenario, add=_add,
    resolve=lambda sc, i: _set_status(sc, 1000 + i, 3), key=lambda i: str(1000 + i),
    list_path="/api/table.json", break_types=_break, is_list=lambda seen: seen.param("content") == "sensors")


class TestPrtgContract(ContractTests):
    kit = KIT


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    monkeypatch.setenv("OPSC_TEST_PRTG_TOKEN", TOKEN)
    return Harness(KIT, tmp_path)


def test_query_has_filter_status_repeated_and_token(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        await h.poll()
        first = h.scenario.requests("/api/table.json")[0]
        assert [v for k, v in first.query if k == "filter_status"] == ["4", "5", "10", "13", "14"]
        assert first.param("apitoken") == TOKEN and first.param("content") == "sensors"
        assert (first.param("start"), first.param("count")) == ("0", "10")
        lookup = h.scenario.requests("/api/table.json")[1]
        assert lookup.param("content") == "devices" and lookup.param("filter_objid") == "2000"
        assert h.connector.state["1001"]["host"] == "10.1.2.3"
    run(body())


def test_username_passhash(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_PRTG_PASSHASH", "1234567890")
    kit = Kit(**{**KIT.__dict__, "config": {"name": "prtg-test", "type": "prtg", "username": "opsc",
                                             "passhash": "${env:OPSC_TEST_PRTG_PASSHASH}"}})
    h = Harness(kit, tmp_path)
    h.scenario.set(apitoken=None, username="opsc", passhash="1234567890")
    _add(h.scenario, 1)
    assert run(h.poll()) == [("raise", "1001")]


def test_missing_secret_names_the_key(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OPSC_TEST_PRTG_TOKEN", raising=False)
    h = Harness(KIT, tmp_path)
    assert run(h.poll()) == []
    status = h.connector.status()
    assert status.status == "failing"
    assert "prtg-test: api_token:" in status.error_message and "OPSC_TEST_PRTG_TOKEN is not set" in status.error_message


def test_bad_token_is_a_clear_error(h: Harness) -> None:
    h.scenario.set(apitoken="another")
    assert run(h.poll()) == []
    assert "HTTP 401: credentials refused" in h.connector.status().error_message


def test_warning_to_down_clears_the_warning_and_raises_down(h: Harness) -> None:
    async def body():
        h.scenario.state["sensors"].append(sensor(1001, 4, parentid=2000))
        assert await h.poll() == [("raise", "1001")]
        _set_status(h.scenario, 1001, 5)
        assert await h.poll() == [("clear", "1001"), ("raise", "1001")]
        cleared, raised = (h.normalize(e) for e in h.events[1:])
        assert (cleared.alert_type, cleared.is_clear, raised.alert_type) == ("sensor_warning", True, "sensor_down")
        _set_status(h.scenario, 1001, 13)  # acknowledged: an update of the same alert
        assert await h.poll() == [("raise", "1001")]
        assert h.normalize(h.events[-1]).custom_fields["acknowledged"] is True
    run(body())


def test_paused_sensor_clears(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        await h.poll()
        _set_status(h.scenario, 1001, 7)
        h.scenario.state["sensors"][0]["status_raw"] = 7
        assert await h.poll() == [("clear", "1001")]
    run(body())


def test_device_lookup_tolerates_missing_host(h: Harness) -> None:
    h.scenario.set(devices=[{"objid": 2000, "device": "core-sw-01"}])
    _add(h.scenario, 1)
    assert run(h.poll()) == [("raise", "1001")]
    alert = h.normalize(h.events[0])
    assert alert.device_ip is None and alert.device_name == "core-sw-01"


# ---- normalizer -------------------------------------------------------------------------

def _event(state: str, item: dict) -> RawEvent:
    return RawEvent(event_id="e1", connector="prtg-test", source_system="prtg",
                    received_at=datetime(2025, 6, 3, 10, 15, tzinfo=timezone.utc), source_address="prtg.test",
                    payload={"state": state, "key": str(item["objid"]), "item": item})


@pytest.mark.parametrize("status_raw,alert_type,severity", [
    (5, "sensor_down", Severity.CRITICAL), (13, "sensor_down", Severity.CRITICAL),
    (14, "sensor_down", Severity.MAJOR), (4, "sensor_warning", Severity.WARNING),
    (10, "sensor_unusual", Severity.MINOR)])
def test_normalizer_maps_status(h: Harness, status_raw, alert_type, severity) -> None:
    item = {**sensor(4102, status_raw, device="br12-fw01 (10.12.0.1)", parentid=4090), "host": "10.12.0.1"}
    (alert,) = h.view and __import__("opsconductor.engine.connectors.prtg.normalizer",
                                     fromlist=["normalize"]).normalize(_event("raise", item), h.view)
    assert (alert.alert_type, alert.severity) == (alert_type, severity)
    assert (alert.device_ip, alert.device_name, alert.resource_key, alert.source_alert_id) == \
           ("10.12.0.1", "br12-fw01", "4102", "4102")
    assert alert.fingerprint == fingerprint("prtg", "10.12.0.1", alert_type, "4102")
    assert alert.category == "network" and alert.message == "Request timed out"
    assert alert.title.startswith("Ping on br12-fw01 is ") and alert.raw_data["objid"] == 4102


def test_normalizer_severity_map_override_and_paused(tmp_path, monkeypatch) -> None:
    from opsconductor.engine.connectors.prtg.normalizer import normalize
    monkeypatch.setenv("OPSC_TEST_PRTG_TOKEN", TOKEN)
    h = Harness(KIT, tmp_path, severity_map={"5": "major", "warning": "minor"}, category="compute")
    down = normalize(_event("raise", sensor(1, 5)), h.view)[0]
    warn = normalize(_event("raise", sensor(2, 4)), h.view)[0]
    assert (down.severity, warn.severity, down.category) == (Severity.MAJOR, Severity.MINOR, "compute")
    assert normalize(_event("raise", sensor(3, 7)), h.view) == ()
    # no host, no IP in the name: the device name carries the fingerprint
    assert down.device_ip is None and down.fingerprint == fingerprint("prtg", "core-sw-01", "sensor_down", "1")


def test_url_encoded_secret_is_masked_too(tmp_path, monkeypatch, caplog) -> None:
    import logging
    odd = "p+r/t g&SECRET=1"
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPSC_TEST_PRTG_TOKEN", odd)
    h = Harness(KIT, tmp_path)
    h.scenario.set(apitoken=odd)
    _add(h.scenario, 1)
    from fakes.scenario import echo
    assert run(h.poll()) == [("raise", "1001")]
    h.scenario.inject(echo(path="/api/table.json"))
    run(h.poll())
    from urllib.parse import quote, quote_plus
    blob = caplog.text + (h.connector.status().error_message or "")
    assert "apitoken=********" in caplog.text
    assert not any(v in blob for v in (odd, quote(odd, safe=""), quote_plus(odd)))
