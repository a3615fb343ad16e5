"""Receivers shared by the notification tests: one HTTP sink and one SMTP sink per module,
reset before each test."""
from __future__ import annotations

import itertools
import logging
import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from notify_contract import Sinks
from notify_sinks import HttpSink, SmtpSink

_names = itertools.count(1)


@pytest.fixture(scope="module")
def _sinks():
    http = HttpSink().start()
    smtp = SmtpSink(users={"opsc": "smtp-password-qrs321"}).start()
    yield Sinks(http, smtp)
    http.stop()
    smtp.stop()


@pytest.fixture
def sinks(_sinks, caplog):
    _sinks.http.reset()
    _sinks.http.normal.clear()
    _sinks.smtp.messages.clear()
    _sinks.smtp.script.clear()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    return _sinks


@pytest.fixture(scope="module")
def _module_db(pg_server_url: str, pg_template: str):
    """One migrated database per test module (copied from the session's template like
    `db_url`); creating one per test would cost more than the tests themselves."""
    name = f"opsc_notify_{os.getpid()}_{next(_names)}"
    _admin(pg_server_url, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(pg_template)))
    try:
        yield urlunsplit(urlsplit(pg_server_url)._replace(path="/" + name))
    finally:
        _admin(pg_server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(_module_db: str) -> str:
    """This module's database, emptied of alerts and notification log rows."""
    with psycopg.connect(_module_db, autocommit=True) as conn:
        conn.execute("TRUNCATE notification_log, alerts CASCADE")
    return _module_db


def _admin(server_url: str, statement) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
