"""Ad-hoc silences are commands to the engine, through the real HTTP API and `opsc serve`'s
Engine (its stage thread, writer process and notifier): a silence created is matched from
the next event on, one ended stops holding at once and releases what it held, each answered
once committed; a restarted engine loads the live ones from the database. Without an engine
the API refuses (503) and writes nothing, and the page says why."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import psycopg
import pytest
from starlette.testclient import TestClient
from waiting import eventually
from web_fixtures import OPERATOR, VIEWER, bearer

from opsconductor.engine.service import Engine, ServeSettings

RULES = """
channels: [{name: noc, type: log}]
rules: [{name: tell-noc, notify: {channels: [noc]}}]
"""
HOOK = """
name: hook
type: webhook
format: generic
mapping: {device_ip: host, alert_type: check, severity: severity, title: title}
"""
SWITCH, OTHER = "10.30.0.1", "10.30.0.2"


class Served:
    """`opsc serve` in this process: an Engine and the web app beside it."""

    def __init__(self, tmp_path, db_url: str, client_for) -> None:
        self.settings = ServeSettings(config_dir=tmp_path / "config", database_url=db_url, data_dir=tmp_path / "var",
                                      watch=False, run_rule_tests=False)
        self.engine = self._start()
        self.client: TestClient = client_for(engine=self.engine)

    def _start(self) -> Engine:
        engine = Engine(self.settings, self.settings.database_url or "")
        engine.start()
        return engine

    def restart(self) -> None:
        """The engine stops and another starts on the same database (the web server stays)."""
        self.engine.stop()
        self.engine = self._start()
        self.client.app.state.engine = self.engine


@pytest.fixture
def served(tmp_path, db_url, client_for) -> Iterator[Served]:
    for name, text in {"rules/r.yaml": RULES, "connectors.d/hook.yaml": HOOK}.items():
        (tmp_path / "config" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "config" / name).write_text(text)
    thresholds = gc.get_threshold()  # Engine.start tunes and freezes the collector for the process
    s = Served(tmp_path, db_url, client_for)
    try:
        yield s
    finally:
        s.engine.stop()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def rows(db_url: str, query: str, *params) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def event(client: TestClient, engine: Engine, host: str, check: str) -> str:
    """A webhook event, through the engine's intake; the id of its alert once committed."""
    r = client.post("/api/v1/events/hook", json={"host": host, "check": check, "severity": "major",
                                                 "title": f"{check} on {host}"})
    assert r.status_code == 202, r.text
    assert engine.worker.drain()
    (alert_id,) = rows(engine.database_url, "SELECT id::text FROM alerts WHERE device_ip = %s AND alert_type = %s",
                       host, check)[0]
    return alert_id


def routed(db_url: str, alert_id: str) -> list[tuple[str, str]]:
    """The alert's route decisions: (rule, kind)."""
    return rows(db_url, "SELECT rule, detail->>'kind' FROM alert_decisions WHERE alert_id = %s AND stage = 'route'"
                        " ORDER BY id", alert_id)


def test_a_silence_holds_from_the_next_event_and_ending_it_releases(served, db_url) -> None:
    engine, client = served.engine, served.client
    made = client.post("/api/v1/silences", headers=bearer(OPERATOR), json={
        "matchers": {"device_ip": SWITCH}, "duration": "2h", "comment": "switch swap CHG-7"})
    assert made.status_code == 201, made.text
    silence = made.json()
    name = silence["name"]
    assert name == f"adhoc-{silence['id']}" and silence["created_by"] == "otto"
    # Answered at the commit: the row is there, written by the engine.
    assert rows(db_url, "SELECT id, created_by, comment, deleted_at FROM silences") == [
        (silence["id"], "otto", "switch swap CHG-7", None)]

    held = event(client, engine, SWITCH, "link_down")
    assert routed(db_url, held) == [(f"silence:{name}", "silenced")]
    told = event(client, engine, OTHER, "link_down")  # a device the silence does not match
    assert routed(db_url, told) == [("tell-noc", "notified")]
    listing = client.get("/api/v1/silences").json()
    (active,) = listing["active"]
    assert active["name"] == name and [a["id"] for a in active["holding"]] == [held]

    ended = client.delete(f"/api/v1/silences/{silence['id']}", headers=bearer(OPERATOR))
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_by"] == "otto" and ended.json()["id"] == silence["id"]
    assert rows(db_url, "SELECT deleted_by FROM silences WHERE deleted_at IS NOT NULL") == [("otto",)]
    after = event(client, engine, SWITCH, "fan_failure")  # the next one on that device is told
    assert routed(db_url, after) == [("tell-noc", "notified")]
    # What the silence held and is still active goes out at the engine's next tick.
    eventually(lambda: ("tell-noc", "notified") in routed(db_url, held), "the held notification was released")

    again = client.delete(f"/api/v1/silences/{silence['id']}", headers=bearer(OPERATOR))
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "conflict" and again.json()["error"]["details"]["ended_by"] == "otto"
    missing = client.delete("/api/v1/silences/987654", headers=bearer(OPERATOR))
    assert missing.status_code == 404 and missing.json()["error"]["details"] == {"silence_id": 987654}


def test_bad_input_and_roles_write_nothing(served, db_url) -> None:
    client = served.client
    body = {"matchers": {"device_ip": SWITCH}, "duration": "1h", "comment": "x"}
    for bad, field in [({**body, "matchers": {"devcie_ip": "x"}}, "matchers"),
                       ({**body, "matchers": {"title": "a\u0000b"}}, "matchers"),
                       ({"matchers": {"device_ip": SWITCH}, "ends_at": "2020-01-01T00:00:00Z", "comment": "x"},
                        "ends_at"),
                       ({**body, "duration": "90d"}, "duration")]:
        r = client.post("/api/v1/silences", json=bad, headers=bearer(OPERATOR))
        assert r.status_code == 400 and r.json()["error"]["details"]["field"] == field, r.text
    assert client.post("/api/v1/silences", json=body, headers=bearer(VIEWER)).status_code == 403
    assert client.post("/api/v1/silences", json=body).status_code == 401
    assert client.delete("/api/v1/silences/1", headers=bearer(VIEWER)).status_code == 403
    assert rows(db_url, "SELECT count(*) FROM silences") == [(0,)]


def test_a_restarted_engine_loads_the_live_silences(served, db_url) -> None:
    client = served.client
    made = client.post("/api/v1/silences", headers=bearer(OPERATOR), json={
        "matchers": {"device_ip": {"cidr": "10.30.0.0/24"}}, "duration": "1h", "comment": "rack move"}).json()
    gone = client.post("/api/v1/silences", headers=bearer(OPERATOR), json={
        "matchers": {"device_ip": OTHER}, "duration": "1h", "comment": "ended before the restart"}).json()
    assert client.delete(f"/api/v1/silences/{gone['id']}", headers=bearer(OPERATOR)).status_code == 200
    served.restart()
    assert list(served.engine.state.silences) == [made["id"]]
    held = event(client, served.engine, OTHER, "psu_failure")
    assert routed(db_url, held) == [(f"silence:{made['name']}", "silenced")]


def test_without_an_engine_silences_are_refused_and_the_page_says_why(client_for, db_url) -> None:
    c = client_for(engine=None)
    body = {"matchers": {"device_ip": SWITCH}, "duration": "1h", "comment": "x"}
    for r in (c.post("/api/v1/silences", json=body, headers=bearer(OPERATOR)),
              c.delete("/api/v1/silences/1", headers=bearer(OPERATOR))):
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert "the engine is not running" in r.json()["error"]["message"]
    assert rows(db_url, "SELECT count(*) FROM silences") == [(0,)]
    page = c.get("/silences").text
    assert "the engine is not running here" in page and 'id="new-silence"' not in page
