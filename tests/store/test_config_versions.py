"""Config versions: applied and refused loads, the one current version."""
from __future__ import annotations

import psycopg
import pytest

from opsconductor.engine.errors import Problem
from opsconductor.engine.store.config_versions import (
    Outcome, get_current, get_last_attempt, get_version, list_versions, record_applied, record_refused,
)  # fmt: skip


def test_nothing_loaded_yet(db_conn):
    assert get_current(db_conn) is None and get_last_attempt(db_conn) is None


def test_applied_becomes_current_and_a_refusal_leaves_it(db_conn):
    v1 = record_applied(db_conn, content_hash="a" * 64, git_commit="1" * 40, files=[{"path": "rules/a.yaml"}])
    v2 = record_applied(db_conn, content_hash="b" * 64, git_commit="2" * 40)
    problem = Problem("rules/bad.yaml", 3, 5, "$.rules[0].match", "unknown key 'sevrity'", hint="severity?")
    refused = record_refused(db_conn, content_hash="c" * 64, errors=[problem])

    assert get_current(db_conn).id == v2.id
    assert get_version(db_conn, v1.id).is_current is False
    last = get_last_attempt(db_conn)
    assert (last.id, last.outcome, last.is_current) == (refused.id, Outcome.REFUSED, False)
    assert last.errors[0]["file"] == "rules/bad.yaml" and last.errors[0]["line"] == 3
    assert last.errors[0]["hint"] == "severity?"
    assert [v.id for v in list_versions(db_conn)] == [refused.id, v2.id, v1.id]
    assert v1.files == [{"path": "rules/a.yaml"}]


def test_the_database_refuses_two_current_versions(db_conn):
    record_applied(db_conn, content_hash="a" * 64)
    with pytest.raises(psycopg.errors.UniqueViolation), db_conn.transaction():
        db_conn.execute("INSERT INTO config_versions (content_hash, outcome, is_current) VALUES ('x', 'applied', true)")
    with pytest.raises(psycopg.errors.CheckViolation), db_conn.transaction():
        db_conn.execute("INSERT INTO config_versions (content_hash, outcome, is_current) VALUES ('x', 'refused', true)")
