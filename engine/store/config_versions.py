"""Config versions: every config tree the engine loaded, applied or refused.

The running version is the one row with is_current; recording a newly applied version
moves the flag in the same transaction (a partial unique index forbids two). A refused
version is recorded with its errors and leaves the running version as it is.
Callers that also refresh the projection do both inside one `conn.transaction()`:

    with conn.transaction():
        version = record_applied(conn, content_hash=h, git_commit=c, files=f)
        apply_projection(conn, projection, version.id)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import psycopg

from ..errors import Problem
from .jsonb import jsonb


class Outcome(str, Enum):
    APPLIED = "applied"
    REFUSED = "refused"


@dataclass(frozen=True)
class ConfigVersion:
    id: int
    content_hash: str
    git_commit: str | None
    loaded_at: datetime
    outcome: Outcome
    errors: tuple[Any, ...]  # JSON objects: file, line, col, path, message, hint, level
    files: Any  # as recorded by the loader (e.g. a list of {path, sha256})
    is_current: bool


_COLUMNS = "id, content_hash, git_commit, loaded_at, outcome, errors, files, is_current"


def record_applied(
    conn: psycopg.Connection, *, content_hash: str, git_commit: str | None = None, files: Any = ()
) -> ConfigVersion:
    """Record a version that is now the running one."""
    with conn.transaction():
        conn.execute("UPDATE config_versions SET is_current = FALSE WHERE is_current")
        return _insert(conn, content_hash, git_commit, Outcome.APPLIED, (), files, is_current=True)


def record_refused(
    conn: psycopg.Connection,
    *,
    content_hash: str,
    git_commit: str | None = None,
    errors: Sequence[Problem | Any],
    files: Any = (),
) -> ConfigVersion:
    """Record a version that failed validation; the running version stays current."""
    with conn.transaction():
        return _insert(conn, content_hash, git_commit, Outcome.REFUSED, errors, files, is_current=False)


def get_current(conn: psycopg.Connection) -> ConfigVersion | None:
    """The running version, or None before the first successful load."""
    return _one(conn, f"SELECT {_COLUMNS} FROM config_versions WHERE is_current")


def get_last_attempt(conn: psycopg.Connection) -> ConfigVersion | None:
    """The most recent load, applied or refused (the dashboard shows a refusal from it)."""
    return _one(conn, f"SELECT {_COLUMNS} FROM config_versions ORDER BY loaded_at DESC, id DESC LIMIT 1")


def get_version(conn: psycopg.Connection, version_id: int) -> ConfigVersion | None:
    return _one(conn, f"SELECT {_COLUMNS} FROM config_versions WHERE id = %s", (version_id,))


def list_versions(conn: psycopg.Connection, *, limit: int = 50) -> list[ConfigVersion]:
    """The latest loads, newest first."""
    with conn.transaction():
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM config_versions ORDER BY loaded_at DESC, id DESC LIMIT %s", (limit,)
        ).fetchall()
    return [_from_row(r) for r in rows]


def _insert(
    conn: psycopg.Connection,
    content_hash: str,
    git_commit: str | None,
    outcome: Outcome,
    errors: Sequence[Problem | Any],
    files: Any,
    *,
    is_current: bool,
) -> ConfigVersion:
    row = conn.execute(
        f"""
        INSERT INTO config_versions (content_hash, git_commit, outcome, errors, files, is_current)
        VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}
        """,
        (content_hash, git_commit, outcome.value, jsonb([_problem(e) for e in errors]), jsonb(files), is_current),
    ).fetchone()
    assert row is not None  # INSERT … RETURNING
    return _from_row(row)


def _problem(error: Problem | Any) -> Any:
    return dataclasses.asdict(error) if isinstance(error, Problem) else error


def _one(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> ConfigVersion | None:
    with conn.transaction():
        row = conn.execute(query, params).fetchone()
    return None if row is None else _from_row(row)


def _from_row(row: tuple[Any, ...]) -> ConfigVersion:
    id_, content_hash, git_commit, loaded_at, outcome, errors, files, is_current = row
    return ConfigVersion(id_, content_hash, git_commit, loaded_at, Outcome(outcome), tuple(errors), files, is_current)
