"""Ciena MCP connector: the shared contract, token handling and the normalizer."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from contract import ContractTests, Harness, Kit, run
from fakes.mcp import McpFake, alarm
from fakes.scenario import Scenario, server_error
from opsconductor.engine.connectors.mcp.normalizer import normalize
from opsconductor.engine.model import RawEvent, Severity, fingerprint

PASSWORD = "mcp-SECRET-1a2b3c4d"
ALARMS = "/nsa/api/v2_0/alarms/filter/filteredAlarms"


def _key(i: int) -> str:
    return f"-73110204556182{i:05d}"


def _clear(sc: Scenario, i: int) -> None:
    for rec in sc.state["alarms"]:
        if rec["id"] == _key(i):
            rec["attributes"].update({"state": "CLEARED", "clear-time": "2025-06-03T10:30:00.000Z"})


def _break(sc: Scenario) -> str:
    sc.state["alarms"][0]["attributes"]["condition-severity"] = 5
    return "data[0].attributes.condition-severity"


KIT = Kit(
    type="mcp", config={"name": "mcp-test", "type": "mcp", "username": "opsc",
                        "password": "${env:OPSC_TEST_MCP_PASSWORD}", "page_size": 10},
    env={"OPSC_TEST_MCP_PASSWORD": PASSWORD}, fake=McpFake,
    scenario=lambda: Scenario(username="opsc", password=PASSWORD, alarms=[]),
    add=lambda sc, i: sc.state["alarms"].append(alarm(_key(i), resource=f"PORT-1-{i}")),
    resolve=_clear, key=_key, list_path=ALARMS, break_types=_break, leaks=("c0ffee",), refused_login=401)


class TestMcpContract(ContractTests):
    kit = KIT


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    monkeypatch.setenv("OPSC_TEST_MCP_PASSWORD", PASSWORD)
    return Harness(KIT, tmp_path)


def test_token_is_reused_refreshed_on_401_and_released(h: Harness) -> None:
    async def body():
        KIT.add(h.scenario, 1)
        await h.poll()
        await h.poll()
        assert h.fake.logins == 1  # one session for both polls
        login = h.scenario.requests("/tron/api/v1/tokens", "POST")[0]
        assert login.json == {"username": "opsc", "password": PASSWORD}
        assert h.scenario.requests(ALARMS)[0].headers["authorization"] == "Bearer tok0001c0ffee"
        h.fake.expire_tokens()
        assert await h.poll() == []
        assert h.fake.logins == 2 and h.connector.status().status == "ok"
        await h.connector.stop()
        assert h.fake.logouts == 1 and h.scenario.requests("/tron/api/v1/tokens/tok0002c0ffee", "DELETE")
    run(body())


def test_login_retries_on_5xx(h: Harness) -> None:
    h.scenario.inject(server_error(503, path="/tron/api/v1/tokens"))
    KIT.add(h.scenario, 1)
    assert run(h.poll()) == [("raise", _key(1))]


def test_severity_change_is_an_update(h: Harness) -> None:
    async def body():
        KIT.add(h.scenario, 1)
        await h.poll()
        h.scenario.state["alarms"][0]["attributes"]["condition-severity"] = "MAJOR"
        assert await h.poll() == [("raise", _key(1))]
        assert h.normalize(h.events[-1]).severity is Severity.MAJOR
        await h.connector.stop()
    run(body())


def _event(state: str, record: dict) -> RawEvent:
    item = {**record["attributes"], "id": record["id"]}
    return RawEvent(event_id="e1", connector="mcp-test", source_system="mcp",
                    received_at=datetime(2025, 6, 3, 10, 0, tzinfo=timezone.utc), source_address="mcp.test",
                    payload={"state": state, "key": record["id"], "item": item})


@pytest.mark.parametrize("code,severity", [("CRITICAL", Severity.CRITICAL), ("MAJOR", Severity.MAJOR),
                                           ("MINOR", Severity.MINOR), ("WARNING", Severity.WARNING),
                                           ("INFO", Severity.INFO), ("INDETERMINATE", Severity.INFO)])
def test_normalizer(h: Harness, code, severity) -> None:
    (alert,) = normalize(_event("raise", alarm("-7311", severity=code, condition="Link Down")), h.view)
    assert (alert.severity, alert.alert_type, alert.category) == (severity, "link_down", "network")
    assert (alert.device_ip, alert.device_name, alert.resource_key) == ("10.40.3.11", "WS-POP3-01", "PORT-1-3")
    assert alert.source_alert_id == "-7311" and alert.fingerprint == fingerprint("mcp", "10.40.3.11", "link_down", "PORT-1-3")
    assert alert.occurred_at == datetime(2025, 6, 3, 9, 58, 1, tzinfo=timezone.utc)
    assert alert.title == "Link Down on WS-POP3-01 PORT-1-3: Loss of Signal"
    assert alert.custom_fields["service_affecting"] is True


def test_normalizer_clear_and_override(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_MCP_PASSWORD", PASSWORD)
    h = Harness(KIT, tmp_path, severity_map={"LOS": "major"})
    raised = normalize(_event("raise", alarm("-1", condition="LOS")), h.view)[0]
    cleared = normalize(_event("clear", alarm("-1", condition="LOS")), h.view)[0]
    assert raised.severity is Severity.MAJOR and raised.alert_type == "los"
    assert (cleared.is_clear, cleared.severity, cleared.clears, cleared.fingerprint) == \
           (True, Severity.CLEAR, ("los",), raised.fingerprint)
    # an older release: colon before the milliseconds, service-affection
    old = alarm("-2", **{"last-raise-time": "2019-05-10T18:35:55:00Z", "service-affection": "NON_SERVICE_AFFECTING"})
    del old["attributes"]["service-affecting"]
    alert = normalize(_event("raise", old), h.view)[0]
    assert alert.occurred_at == datetime(2019, 5, 10, 18, 35, 55, tzinfo=timezone.utc)
    assert alert.custom_fields["service_affecting"] is False
