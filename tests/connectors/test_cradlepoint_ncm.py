"""Cradlepoint NCM API connector: the shared contract, the key headers, meta.next paging,
paired and event-only alert types, and the normalizer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from contract import ContractTests, Harness, Kit, run
from fakes.ncm import NcmFake, alert
from fakes.scenario import Scenario
from opsconductor.engine.connectors.cradlepoint.normalizer import normalize
from opsconductor.engine.model import RawEvent, Severity, fingerprint

KEYS = {"x-cp-api-id": "cpid-1a2b3c", "x-cp-api-key": "cpkey-SECRET-4d5e6f", "x-ecm-api-id": "ecmid-7a8b9c",
        "x-ecm-api-key": "ecmkey-SECRET-0d1e2f"}
ENV = {"OPSC_TEST_NCM_CP_ID": KEYS["x-cp-api-id"], "OPSC_TEST_NCM_CP_KEY": KEYS["x-cp-api-key"],
       "OPSC_TEST_NCM_ECM_ID": KEYS["x-ecm-api-id"], "OPSC_TEST_NCM_ECM_KEY": KEYS["x-ecm-api-key"]}
ALERTS = "/api/v2/alerts/"


def _add(sc: Scenario, i: int) -> None:
    sc.state["alerts"].append(alert("modem_wan_disconnected", router=9000 + i, uid=f"mdm-{i}"))


def _restore(sc: Scenario, i: int) -> None:
    sc.state["alerts"].append(alert("modem_wan_connected", router=9000 + i, minutes_ago=1, uid=f"mdm-{i}"))


def _break(sc: Scenario) -> str:
    sc.state["alerts"][0]["type"] = 17
    return "data[0].type"


KIT = Kit(
    type="cradlepoint",
    config={"name": "ncm", "type": "cradlepoint", "mode": "api", "cp_api_id": "${env:OPSC_TEST_NCM_CP_ID}",
            "cp_api_key": "${env:OPSC_TEST_NCM_CP_KEY}", "ecm_api_id": "${env:OPSC_TEST_NCM_ECM_ID}",
            "ecm_api_key": "${env:OPSC_TEST_NCM_ECM_KEY}"},
    env=ENV, fake=NcmFake, scenario=lambda: Scenario(keys=dict(KEYS), alerts=[], max_limit=10),
    add=_add, resolve=_restore, key=lambda i: f"{9000 + i}/modem_wan/mdm-{i}", list_path=ALERTS,
    break_types=_break)


class TestNcmContract(ContractTests):
    kit = KIT


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return Harness(KIT, tmp_path)


def test_headers_window_and_trailing_slash(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        await h.poll()
        (seen,) = h.scenario.requests(ALERTS)
        assert {k: seen.headers[k] for k in KEYS} == KEYS and seen.headers["content-type"] == "application/json"
        assert seen.path == ALERTS and seen.param("limit") == "500" and seen.param("order_by") == "created_at"
        since = datetime.fromisoformat(seen.param("created_at__gt"))
        assert timedelta(hours=23) < datetime.now(timezone.utc) - since < timedelta(hours=25)
        await h.connector.stop()
    run(body())


def test_default_url_and_wrong_keys(tmp_path, monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPSC_TEST_NCM_ECM_KEY", "wrong-key-value")
    h = Harness(KIT, tmp_path)
    assert h.connector.http.base_url == "http://vendor.test"
    assert run(h.poll()) == []
    message = h.connector.status().error_message
    assert "HTTP 401: credentials refused" in message and "wrong-key-value" not in message
    import dataclasses
    from types import MappingProxyType
    bare = dataclasses.replace(h.config, settings=MappingProxyType({k: v for k, v in h.config.settings.items() if k != "url"}))
    from opsconductor.engine.connectors.cradlepoint.connector import NcmConnector
    assert NcmConnector(bare, h.sink).http.base_url == "https://www.cradlepointecm.com"


def test_latest_event_of_a_family_wins(h: Harness) -> None:
    async def body():
        sc = h.scenario.state["alerts"]
        sc.append(alert("ipsec_tunnel_down", router=1, minutes_ago=30, tunname="vti"))
        sc.append(alert("ipsec_tunnel_up", router=1, minutes_ago=20, tunname="vti"))
        sc.append(alert("ipsec_tunnel_down", router=1, minutes_ago=5, tunname="vti2"))
        sc.append(alert("connection_state", router=2, minutes_ago=4, online=False))
        sc.append(alert("login_success", router=2, minutes_ago=3))
        sc.append(alert("wifi_client_state_change", router=2, minutes_ago=3))
        got = sorted(await h.poll())
        assert got == [("raise", "1/ipsec_tunnel/vti2"), ("raise", "2/connection/")]
        sc.append(alert("connection_state", router=2, minutes_ago=1, online=True))
        assert await h.poll() == [("clear", "2/connection/")]
        offline = h.normalize(h.events[1])
        assert (offline.alert_type, offline.severity, offline.device_name) == ("device_offline", Severity.CRITICAL, "ncm-router-2")
        await h.connector.stop()
    run(body())


def test_old_problem_outside_the_window_stays(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        await h.poll()
        h.scenario.state["alerts"].clear()  # the down event fell out of the 24 h window
        assert await h.poll() == []
        assert list(h.connector.state) == ["9001/modem_wan/mdm-1"]
        await h.connector.stop()
    run(body())


def test_event_only_types_age_out_and_repeat(tmp_path, monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    h = Harness(KIT, tmp_path)
    now = [datetime.now(timezone.utc)]
    h.connector = h.new_connector()
    h.connector.clock = lambda: now[0]

    async def body():
        h.scenario.state["alerts"].append(alert("thermal_exceeds_limit", router=5, minutes_ago=10))
        assert await h.poll() == [("raise", "5/thermal_exceeds_limit/")]
        assert await h.poll() == []
        h.scenario.state["alerts"].append(alert("thermal_exceeds_limit", router=5, minutes_ago=2))
        assert await h.poll() == [("raise", "5/thermal_exceeds_limit/")]  # again: an update
        now[0] += timedelta(minutes=50)
        assert await h.poll() == []
        now[0] += timedelta(minutes=10)  # over an hour after the last occurrence
        assert await h.poll() == [("clear", "5/thermal_exceeds_limit/")]
        alert_ = h.normalize(h.events[0])
        assert (alert_.alert_type, alert_.severity) == ("over_temperature", Severity.MAJOR)
        await h.connector.stop()
    run(body())


def test_foreign_next_link_refused(h: Harness) -> None:
    from fakes.scenario import body as raw
    h.scenario.inject(raw({"data": [alert("wwan_disconnected")], "meta": {"next": "https://evil.test/steal"}}, path=ALERTS))
    assert run(h.poll()) == []
    assert "$.meta.next" in h.connector.status().error_message


def test_snmp_mode_is_not_this_connector(tmp_path, monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    from opsconductor.engine.connectors.cradlepoint.connector import NcmConnector
    from opsconductor.engine.errors import ConnectorError
    h = Harness(KIT, tmp_path)
    import dataclasses
    from types import MappingProxyType
    snmp = dataclasses.replace(h.config, settings=MappingProxyType({**h.config.settings, "mode": "snmp"}))
    with pytest.raises(ConnectorError, match="mode"):
        NcmConnector(snmp, h.sink)
    from opsconductor.engine.connectors.cradlepoint.connector import cradlepoint_connector
    assert isinstance(cradlepoint_connector(h.config, h.sink), NcmConnector)


def _event(state: str, item: dict) -> RawEvent:
    return RawEvent(event_id="e1", connector="ncm", source_system="cradlepoint",
                    received_at=datetime(2025, 6, 3, 10, 20, tzinfo=timezone.utc), source_address="ncm.test",
                    payload={"state": state, "key": "k", "item": item, "mode": "api"})


@pytest.mark.parametrize("kind,family,alert_type,severity", [
    ("modem_wan_disconnected", "modem_wan", "modem_down", Severity.MAJOR),
    ("ethernet_wan_disconnected", "ethernet_wan", "wan_down", Severity.MAJOR),
    ("wwan_network_unavailable", "wwan_network", "cellular_network_unavailable", Severity.MAJOR),
    ("cpu_utilization", "event", "high_cpu", Severity.WARNING),
    ("reboot_status_change", "event", "device_rebooted", Severity.INFO)])
def test_normalizer(h: Harness, kind, family, alert_type, severity) -> None:
    item = {**alert(kind, router=912345, uid="mdm-2a1b3c4d"), "family": family}
    raised = normalize(_event("raise", item), h.view)[0]
    assert (raised.alert_type, raised.severity, raised.category) == (alert_type, severity, "network")
    assert (raised.device_name, raised.resource_key) == ("ncm-router-912345", "mdm-2a1b3c4d")
    assert raised.fingerprint == fingerprint("cradlepoint", "ncm-router-912345", alert_type, "mdm-2a1b3c4d")
    cleared = normalize(_event("clear", item), h.view)[0]
    assert cleared.is_clear and cleared.clears == (alert_type,) and cleared.fingerprint == raised.fingerprint


def test_normalizer_override(tmp_path, monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    h = Harness(KIT, tmp_path, severity_map={"modem_wan_disconnected": "critical"})
    item = {**alert("modem_wan_disconnected", uid="m"), "family": "modem_wan"}
    assert normalize(_event("raise", item), h.view)[0].severity is Severity.CRITICAL
