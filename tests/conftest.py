"""Database fixtures for the whole suite: real PostgreSQL with the real migrations.

The server is OPSC_TEST_DATABASE_URL when set (its database is only used to connect;
nothing is written to it), otherwise one embedded PostgreSQL started for the session.
The migrations run once per session into a template database; every test that asks
for `db_url` gets a fresh database copied from it (CREATE DATABASE … TEMPLATE), which
is much faster than migrating per test and keeps tests independent. Names carry the
pid and a counter so parallel sessions on one server never collide.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from opsconductor.engine.store.migrate import apply_migrations

_counter = itertools.count(1)


def _unique_name(kind: str) -> str:
    return f"opsc_{kind}_{os.getpid()}_{next(_counter)}"


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def _admin(server_url: str, statement: sql.Composable) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)


def _create_database(server_url: str, name: str, template: str | None = None) -> str:
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    _admin(server_url, query)
    return with_database(server_url, name)


def _drop_database(server_url: str, name: str) -> None:
    # FORCE: a test that leaked a connection (a thread that failed) must not leak a database.
    _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A libpq URL of a server on which the suite may create and drop databases."""
    url = os.environ.get("OPSC_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from opsconductor.engine.store.embedded import EmbeddedPostgres

    # Not under tmp_path_factory: another pytest session resets /tmp/pytest-of-<user> to 0700,
    # which makes a running server PANIC on its pg_control.
    data_dir = Path(tempfile.mkdtemp(prefix="opsc-test-pg-"))
    os.environ.setdefault("OPSC_EMBEDDED_FSYNC", "off")
    server = EmbeddedPostgres(data_dir)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> Iterator[str]:
    """Name of a database holding the real migrations, built once per session."""
    name = _unique_name("template")
    url = _create_database(pg_server_url, name)
    try:
        # A URL, not a connection: the runner closes it, and CREATE DATABASE … TEMPLATE
        # refuses a template that still has sessions.
        apply_migrations(url)
        yield name
    finally:
        _drop_database(pg_server_url, name)


@contextlib.contextmanager
def _fresh_database(server_url: str, kind: str, template: str | None = None) -> Iterator[str]:
    name = _unique_name(kind)
    url = _create_database(server_url, name, template=template)
    try:
        yield url
    finally:
        _drop_database(server_url, name)


@pytest.fixture
def db_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """URL of a fresh, fully migrated database, dropped after the test."""
    with _fresh_database(pg_server_url, "test", pg_template) as url:
        yield url


@pytest.fixture(scope="module")
def module_db_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    """Like db_url, shared by the tests of one module (history that several tests only read)."""
    with _fresh_database(pg_server_url, "module", pg_template) as url:
        yield url


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh database with no migrations applied (for the runner's own tests)."""
    with _fresh_database(pg_server_url, "empty") as url:
        yield url


@pytest.fixture
def db_conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the test's fresh database; autocommit off, closed afterwards."""
    with psycopg.connect(db_url, autocommit=False) as conn:
        yield conn
