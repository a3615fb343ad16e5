"""Milestone XProtect connector: the shared contract, the token grant and the normalizer."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from contract import ContractTests, Harness, Kit, run
from fakes.milestone import MilestoneFake, alarm
from fakes.scenario import Scenario
from opsconductor.engine.connectors.milestone.normalizer import normalize
from opsconductor.engine.model import RawEvent, Severity, fingerprint

PASSWORD = "ms-SECRET-3c4d5e6f"
ALARMS = "/api/rest/v1/alarms"


def _key(i: int) -> str:
    return f"6f2d0c5a-3b1e-4b8e-9d2a-{i:012d}"


def _set_state(sc: Scenario, i: int, state: str) -> None:
    for a in sc.state["alarms"]:
        if a["id"] == _key(i):
            a["state"] = {"id": "x", "name": state} if isinstance(a["state"], dict) else {"Closed": 11}.get(state, 4)


def _break(sc: Scenario) -> str:
    sc.state["alarms"][0]["name"] = ["x"]
    return "array[0].name"


KIT = Kit(
    type="milestone", config={"name": "xprotect", "type": "milestone", "username": "opsc",
                              "password": "${env:OPSC_TEST_MS_PASSWORD}", "page_size": 10},
    env={"OPSC_TEST_MS_PASSWORD": PASSWORD}, fake=MilestoneFake,
    scenario=lambda: Scenario(username="opsc", password=PASSWORD, alarms=[]),
    add=lambda sc, i: sc.state["alarms"].append(alarm(_key(i), camera=f"Cam {i}", camera_id=f"cam-{i}")),
    resolve=lambda sc, i: _set_state(sc, i, "Closed"), key=_key, list_path=ALARMS, break_types=_break,
    leaks=("5ca1ab1e",), refused_login=400)


class TestMilestoneContract(ContractTests):
    kit = KIT


@pytest.fixture
def h(tmp_path, monkeypatch) -> Harness:
    monkeypatch.setenv("OPSC_TEST_MS_PASSWORD", PASSWORD)
    return Harness(KIT, tmp_path)


def test_password_grant_token_reuse_and_401(h: Harness) -> None:
    async def body():
        KIT.add(h.scenario, 1)
        await h.poll()
        await h.poll()
        assert h.fake.logins == 1
        login = h.scenario.requests("/API/IDP/connect/token")[0]
        assert login.json == {"grant_type": "password", "username": "opsc", "password": PASSWORD,
                              "client_id": "GrantValidatorClient"}
        first = h.scenario.requests(ALARMS)[0]
        assert (first.param("page"), first.param("size")) == ("0", "10")
        h.fake.expire_tokens()
        assert await h.poll() == []
        assert h.fake.logins == 2 and h.connector.status().status == "ok"
        await h.connector.stop()
    run(body())


def test_token_renewed_before_expiry(h: Harness) -> None:
    now = [1000.0]  # the connector's monotonic clock, simulated: seconds pass when the test says
    h.connector = h.new_connector(monotonic=lambda: now[0])

    async def body():
        h.scenario.set(expires_in=100)
        await h.poll()
        now[0] += 89  # within 90 % of its lifetime: the token is used again
        await h.poll()
        assert h.fake.logins == 1
        now[0] += 1  # 90 %: renewed before it runs out
        await h.poll()
        assert h.fake.logins == 2  # a fresh login between polls, no 401 needed
        first, again, renewed = (r.headers["authorization"] for r in h.scenario.requests(ALARMS))
        assert first == again != renewed
        await h.connector.stop()
    run(body())


def test_state_change_updates_and_plain_values(h: Harness) -> None:
    async def body():
        KIT.add(h.scenario, 1)
        h.scenario.state["alarms"].append(alarm(_key(2), plain=True, priority="Low"))
        assert sorted(await h.poll()) == [("raise", _key(1)), ("raise", _key(2))]
        _set_state(h.scenario, 1, "In progress")
        assert await h.poll() == [("raise", _key(1))]
        assert h.normalize(h.events[-1]).custom_fields["acknowledged"] is True
        _set_state(h.scenario, 2, "Closed")  # plain state number 11
        assert await h.poll() == [("clear", _key(2))]
        await h.connector.stop()
    run(body())


def _event(state: str, item: dict) -> RawEvent:
    return RawEvent(event_id="e1", connector="xprotect", source_system="milestone",
                    received_at=datetime(2025, 6, 3, 10, 20, tzinfo=timezone.utc), source_address="ms.test",
                    payload={"state": state, "key": item["id"], "item": item})


@pytest.mark.parametrize("priority,severity", [("High", Severity.MAJOR), ("Medium", Severity.MINOR), ("Low", Severity.WARNING)])
@pytest.mark.parametrize("plain", [False, True])
def test_normalizer_priorities(h: Harness, priority, severity, plain) -> None:
    (alert,) = normalize(_event("raise", alarm("a1", priority=priority, plain=plain)), h.view)
    assert (alert.severity, alert.alert_type, alert.category) == (severity, "camera_tampering", "video")
    if not plain:
        assert (alert.device_name, alert.resource_key) == ("Lobby Cam 1", "a8a8b9dc-3995-49ed-9b00-62caac2ce74a")
        assert alert.title == "Camera tampering - Lobby - Lobby Cam 1"
        assert alert.fingerprint == fingerprint("milestone", "lobby cam 1", "camera_tampering", alert.resource_key)
    assert alert.occurred_at == datetime(2025, 6, 3, 10, 15, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("name,kind", [("Motion in server room", "motion_detected"),
                                       ("Communication error - Gate", "camera_offline"),
                                       ("Recording storage full", "recording_failure"), ("Door forced", "vms_alarm")])
def test_normalizer_kinds_and_override(tmp_path, monkeypatch, name, kind) -> None:
    monkeypatch.setenv("OPSC_TEST_MS_PASSWORD", PASSWORD)
    h = Harness(KIT, tmp_path, severity_map={"Door forced": "critical"})
    item = alarm("a2", name=name, message="")
    raised = normalize(_event("raise", item), h.view)[0]
    assert raised.alert_type == kind
    assert (raised.severity is Severity.CRITICAL) == (name == "Door forced")
    cleared = normalize(_event("clear", item), h.view)[0]
    assert cleared.is_clear and cleared.clears == (kind,) and cleared.fingerprint == raised.fingerprint
