"""/healthz answers in every state and says why it is not ok.

A database that accepts connections and never answers (a TCP listener on 127.0.0.1 that
reads nothing) and an engine whose health() blocks until released: the answer must come
from the probes' deadlines, with the reason, and the blocked probe is not started twice.
"""
from __future__ import annotations

import socket
import threading

import pytest
from starlette.testclient import TestClient

from opsconductor.web.app import create_app
from web_fixtures import FakeEngine, settings


@pytest.fixture
def silent_database():
    """A 'PostgreSQL' that accepts TCP connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"postgresql://postgres@127.0.0.1:{server.getsockname()[1]}/nowhere"
    server.close()


class ReasonsEngine(FakeEngine):
    def __init__(self, reasons: list[str], state: str = "degraded"):
        super().__init__()
        self._reasons, self._state = reasons, state

    def health(self) -> dict:
        return {"engine": self._state, "queue_depth": 0, "reasons": list(self._reasons)}


class HungEngine(FakeEngine):
    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.calls = 0

    def health(self) -> dict:
        self.calls += 1
        self.release.wait(30)
        return {"engine": "ok"}


def test_ok_has_no_reasons(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["reasons"] == []


def test_engine_reasons_make_it_degraded(client_for):
    reasons = ["connector traps is failing: traps: listen: cannot bind 0.0.0.0:162: Permission denied "
               "(attempt 3; retrying in 4 s)", "spooling 1200 events for 31 seconds"]
    r = client_for(engine=ReasonsEngine(reasons)).get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded" and body["reasons"] == reasons and body["database"] == "ok"
    assert "reasons" not in body["engine"]


def test_a_dead_worker_is_failing(client_for):
    r = client_for(engine=ReasonsEngine([], state="failing")).get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "failing"
    assert r.json()["reasons"] == ["the engine's pipeline worker is not running"]


def test_a_silent_database_is_reported_by_the_deadline(silent_database):
    engine = FakeEngine()
    app = create_app(database_url=silent_database, engine=engine, settings=settings())
    with TestClient(app) as c:
        first = c.get("/healthz")
        second = c.get("/healthz")  # the same hung probe, not a second one
    for r in (first, second):
        assert r.status_code == 200, r.text  # the engine runs (and journals): degraded, not failing
        body = r.json()
        assert body["status"] == "degraded" and body["database"].startswith("error: not answering within")
        assert body["reasons"][0].startswith("database down: not answering within")
        assert body["engine"] == {"engine": "ok", "queue_depth": 3}


def test_without_an_engine_a_down_database_is_failing(silent_database):
    app = create_app(database_url=silent_database, settings=settings())
    with TestClient(app) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "failing"
    assert r.json()["reasons"][0].startswith("database down:")


def test_a_hung_engine_is_reported_by_the_deadline(client_for):
    engine = HungEngine()
    c = client_for(engine=engine)
    try:
        bodies = [c.get("/healthz").json() for _ in range(3)]
    finally:
        engine.release.set()
    for body in bodies:
        assert body["status"] == "degraded" and body["database"] == "ok"
        assert body["reasons"] == ["the engine did not answer within 0.7 s"]
    assert engine.calls == 1  # single-flight: one blocked probe, however many requests
