"""Eaton Network-M2 REST connector (eaton_rest): the shared contract, token handling,
the member list and the normalizer."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from contract import ContractTests, Harness, Kit, run
from fakes.network_m2 import LIST, NetworkM2Fake, alarm
from fakes.scenario import Scenario
from opsconductor.engine.connectors.eaton.normalizer_rest import normalize
from opsconductor.engine.model import RawEvent, Severity, fingerprint

PASSWORD = "m2-SECRET-7a8b9c0d"


def _add(sc: Scenario, i: int) -> None:
    sc.state["alarms"][str(i)] = alarm(str(i), code=str(1200 + i), sensor=f"S{i}")


def _good(sc: Scenario, i: int) -> None:
    sc.state["alarms"][str(i)]["level"] = 4  # back to "good" (the card may also drop it)


def _break(sc: Scenario) -> str:
    sc.state["alarms"]["1"]["level"] = [7]
    return "activeAlarms[1].level"


KIT = Kit(
    type="eaton_rest", config={"name": "ups-card", "type": "eaton_rest", "username": "opsc",
                               "password": "${env:OPSC_TEST_M2_PASSWORD}"},
    env={"OPSC_TEST_M2_PASSWORD": PASSWORD}, fake=NetworkM2Fake,
    scenario=lambda: Scenario(username="opsc", password=PASSWORD, alarms={}),
    add=_add, resolve=_good, key=str, list_path=LIST, break_types=_break, leaks=("feedbeef",),
    is_list=lambda seen: seen.path == LIST, refused_login=401)


class TestEatonRestContract(ContractTests):
    kit = KIT

    def test_paging_followed_to_the_end(self, h: Harness) -> None:
        """activeAlarms is not paged: every member is listed once and fetched once."""
        async def body():
            for i in range(1, 26):
                _add(h.scenario, i)
            got = await h.poll()
            assert sorted(k for _, k in got) == sorted(str(i) for i in range(1, 26))
            assert KIT.list_requests(h.scenario) == 1
            assert len([s for s in h.scenario.requests(LIST + "/")]) == 25
            await h.connector.stop()
        run(body())


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    monkeypatch.setenv("OPSC_TEST_M2_PASSWORD", PASSWORD)
    return Harness(KIT, tmp_path, url="http://10.30.0.9")


def test_login_body_token_reuse_and_401(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        await h.poll()
        await h.poll()
        assert h.fake.logins == 1
        login = h.scenario.requests("/rest/mbdetnrs/1.0/oauth2/token")[0]
        assert login.json == {"username": "opsc", "password": PASSWORD, "grant_type": "password", "scope": "GUIAccess"}
        assert h.scenario.requests(LIST)[-1].headers["authorization"] == "Bearer m2tok0001feedbeef"
        h.fake.expire_tokens()
        assert await h.poll() == []
        assert h.fake.logins == 2 and h.connector.status().status == "ok"
        await h.connector.stop()
    run(body())


def test_vanished_alarm_clears_and_level_change_updates(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        _add(h.scenario, 2)
        await h.poll()
        h.scenario.state["alarms"]["1"]["level"] = "warning"  # REST 2.0 style text
        del h.scenario.state["alarms"]["2"]
        assert sorted(await h.poll()) == [("clear", "2"), ("raise", "1")]
        assert h.normalize(h.events[-1]).severity is Severity.WARNING
        await h.connector.stop()
    run(body())


def test_short_member_list_fails_the_poll(h: Harness) -> None:
    async def body():
        _add(h.scenario, 1)
        _add(h.scenario, 2)
        await h.poll()
        del h.scenario.state["alarms"]["2"]
        h.scenario.set(count_extra=1)
        assert await h.poll() == []
        assert "members@count is 2" in h.connector.status().error_message
        await h.connector.stop()
    run(body())


def test_foreign_member_link_refused(h: Harness) -> None:
    from fakes.scenario import body as raw
    h.scenario.inject(raw({"members@count": 1, "members": [{"@id": "http://evil.test/x"}]}, path=LIST))
    assert run(h.poll()) == []
    assert "unexpected alarm link" in h.connector.status().error_message


def _event(state: str, item: dict) -> RawEvent:
    return RawEvent(event_id="e1", connector="ups-card", source_system="eaton_rest",
                    received_at=datetime(2025, 6, 3, 10, 0, tzinfo=timezone.utc), source_address="10.30.0.9",
                    payload={"state": state, "key": item["id"], "item": item})


@pytest.mark.parametrize("level,severity", [(7, Severity.CRITICAL), ("7", Severity.CRITICAL), (6, Severity.WARNING),
                                            ("warning", Severity.WARNING), (5, Severity.INFO), ("Critical", Severity.CRITICAL)])
def test_normalizer_levels(h: Harness, level, severity) -> None:
    (alert,) = normalize(_event("raise", alarm("2", level=level)), h.view)
    assert (alert.severity, alert.alert_type, alert.category) == (severity, "temperature_alarm", "environment")
    assert (alert.device_ip, alert.device_name, alert.resource_key) == ("10.30.0.9", "10.30.0.9", "1201@Ab3x")
    assert alert.fingerprint == fingerprint("eaton_rest", "10.30.0.9", "temperature_alarm", "1201@Ab3x")
    assert alert.title == "Temperature is critical low on 10.30.0.9"
    assert alert.occurred_at == datetime(2024, 6, 3, 9, 20, tzinfo=timezone.utc)


def test_normalizer_codes_clear_and_override(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_M2_PASSWORD", PASSWORD)
    h = Harness(KIT, tmp_path, url="http://10.30.0.9", severity_map={"1212": "major"})
    hum = normalize(_event("raise", alarm("3", code="1212", level=6)), h.view)[0]
    assert (hum.alert_type, hum.severity) == ("humidity_alarm", Severity.MAJOR)
    ups = normalize(_event("raise", alarm("4", code="3301", level=7, description="On battery")), h.view)[0]
    assert (ups.alert_type, ups.category) == ("ups_alarm", "power")
    cleared = normalize(_event("clear", alarm("4", code="3301", level=7, description="On battery")), h.view)[0]
    assert cleared.is_clear and cleared.clears == ("ups_alarm",) and cleared.fingerprint == ups.fingerprint
