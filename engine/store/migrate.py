"""Apply the numbered SQL migrations in order, each once, each in its own transaction.

Files are `NNN_name.sql`, read from the package `opsconductor.migrations` (or a
directory, for tests). Applied files are recorded in `schema_migrations` with the
sha256 of their bytes; a file changed after it was applied is refused, because the
database no longer matches what the file says. Several runners (two engine processes
starting at once) are serialized by a session-level advisory lock.
"""
from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

import psycopg

from ..errors import MigrationError

# Any constant works as long as every runner and every release uses the same one:
# the ASCII bytes of "OPSCMIGR" as a bigint.
MIGRATION_LOCK_KEY = 0x4F50_5343_4D49_4752

_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<slug>[a-z0-9_]+)\.sql$")
# The runner owns the transaction; a COMMIT inside a file would end it half-way.
_TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK)\s*;", re.IGNORECASE | re.MULTILINE)

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum CHAR(64) NOT NULL,
    applied_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file name, e.g. "001_seed_alert_tables.sql"
    sql: str
    checksum: str  # sha256 hex of the file's bytes


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str


def discover(directory: Path | None = None) -> list[Migration]:
    """Every migration file in version order; a misnamed or duplicate file is an error."""
    source = resources.files("opsconductor.migrations") if directory is None else Path(directory)
    found: dict[int, Migration] = {}
    for entry in source.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"{entry.name}: migration files are named NNN_lower_case_name.sql, e.g. 009_add_index.sql"
            )
        data = entry.read_bytes()
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"{entry.name}: version {version} is also used by {found[version].name}")
        sql = data.decode("utf-8")
        if _TRANSACTION_CONTROL.search(sql):
            raise MigrationError(
                f"{entry.name}: contains BEGIN/COMMIT; remove it, each file already runs in its own transaction"
            )
        found[version] = Migration(version, entry.name, sql, hashlib.sha256(data).hexdigest())
    return [found[v] for v in sorted(found)]


def apply_migrations(conn_or_url: psycopg.Connection | str, *, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date)."""
    migrations = discover(directory)
    with _connection(conn_or_url) as conn, _migration_lock(conn):
        with conn.transaction():
            conn.execute(_CREATE_TABLE)
        pending = _pending(migrations, _applied(conn))
        for migration in pending:
            _apply_one(conn, migration)
    return [m.name for m in pending]


def pending_migrations(conn_or_url: psycopg.Connection | str, *, directory: Path | None = None) -> list[str]:
    """Names of the migrations not yet applied; raises like apply_migrations on a changed file."""
    migrations = discover(directory)
    with _connection(conn_or_url) as conn, conn.transaction():
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        applied = _applied(conn) if row and row[0] else []
    return [m.name for m in _pending(migrations, applied)]


def _applied(conn: psycopg.Connection) -> list[AppliedMigration]:
    with conn.transaction():
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version").fetchall()
    return [AppliedMigration(*row) for row in rows]


def _pending(migrations: list[Migration], applied: list[AppliedMigration]) -> list[Migration]:
    by_version = {m.version: m for m in migrations}
    for done in applied:
        shipped = by_version.get(done.version)
        if shipped is None:
            raise MigrationError(
                f"{done.name}: applied to this database but not shipped with this OpsConductor; "
                "is an older release running against a newer database?"
            )
        if shipped.name != done.name:
            raise MigrationError(f"{shipped.name}: version {done.version} was applied as {done.name}")
        if shipped.checksum != done.checksum.strip():
            raise MigrationError(
                f"{shipped.name}: changed after it was applied (checksum {shipped.checksum[:12]}…, "
                f"database has {done.checksum[:12]}…); restore the file and add a new migration instead"
            )
    done_versions = {d.version for d in applied}
    return [m for m in migrations if m.version not in done_versions]


def _apply_one(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            # No parameters: psycopg sends the file as one simple query, so it may hold
            # many statements (and literal % signs).
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"{migration.name}: {exc}".rstrip()) from exc


@contextmanager
def _connection(conn_or_url: psycopg.Connection | str) -> Iterator[psycopg.Connection]:
    if isinstance(conn_or_url, str):
        try:
            conn = psycopg.connect(conn_or_url, autocommit=True)
        except psycopg.Error as exc:
            raise MigrationError(f"cannot connect to the database: {exc}") from exc
        with conn:
            yield conn
        return
    if conn_or_url.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        # Inside a caller's transaction every file would become a savepoint and nothing
        # would commit file by file.
        raise MigrationError("apply_migrations needs a connection that is not inside a transaction")
    yield conn_or_url


@contextmanager
def _migration_lock(conn: psycopg.Connection) -> Iterator[None]:
    # Session-level, so it spans the per-file transactions; taken and released in
    # transactions of their own so a non-autocommit connection is left idle.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        yield
    finally:
        if not conn.closed:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
