"""Fixtures of the web tests: the real app on a fresh migrated database, tokens, alerts."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from starlette.testclient import TestClient

from opsconductor.engine.model import Alert
from opsconductor.engine.store.direct import store_alerts
from opsconductor.web.app import create_app
from web_fixtures import FakeEngine, settings


@pytest.fixture
def add_alerts(db_url: str) -> Callable[..., list[str]]:
    def add(*alerts: Alert) -> list[str]:
        with psycopg.connect(db_url) as conn:
            return store_alerts(conn, alerts)
    return add


@pytest.fixture
def engine(db_url: str) -> FakeEngine:
    return FakeEngine(db_url)


@pytest.fixture
def client_for(db_url: str) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(read_access: str = "public", engine: object | None = None, **kw) -> TestClient:
        app = create_app(database_url=db_url, engine=engine, settings=settings(read_access, **kw))
        c = TestClient(app, raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(client_for, engine) -> TestClient:
    return client_for(engine=engine)

