"""The migration runner against real PostgreSQL: order, idempotence, checksums,
crash between files, concurrent runners."""
from __future__ import annotations

import shutil
import threading
from importlib import resources
from pathlib import Path

import psycopg
import pytest

from opsconductor.engine.errors import MigrationError
from opsconductor.engine.store.migrate import apply_migrations, discover, pending_migrations

SHIPPED = [m.name for m in discover()]


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """A copy of the shipped migrations a test may edit."""
    target = tmp_path / "migrations"
    target.mkdir()
    for entry in resources.files("opsconductor.migrations").iterdir():
        if entry.name.endswith(".sql"):
            (target / entry.name).write_bytes(entry.read_bytes())
    return target


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY version")]


def _table_exists(url: str, name: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def test_shipped_migrations_are_numbered_from_001():
    # Unique and increasing; a number may be skipped (work in parallel branches reserves
    # numbers, and a reserved one can end up unused), never reused.
    assert SHIPPED[0] == "001_seed_alert_tables.sql"
    numbers = [int(n[:3]) for n in SHIPPED]
    assert numbers == sorted(set(numbers))


def test_applies_all_in_order_then_is_a_no_op(empty_db_url):
    assert pending_migrations(empty_db_url) == SHIPPED
    assert apply_migrations(empty_db_url) == SHIPPED
    assert apply_migrations(empty_db_url) == []
    assert pending_migrations(empty_db_url) == []
    assert _applied(empty_db_url) == SHIPPED


def test_seed_tables_exist_with_the_seed_columns(db_conn):
    tables = {"alerts", "alert_history", "dependencies", "connectors", "oid_mappings",
              "notification_rules", "notification_log", "config_versions", "raw_events",
              "alert_decisions", "schema_migrations"}  # fmt: skip
    found = {r[0] for r in db_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables <= found
    columns = {r[0] for r in db_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'alerts'")}  # fmt: skip
    assert {"source_alert_id", "fingerprint", "occurrence_count", "correlated_to_id", "resource_key",
            "connector", "config_version_id"} <= columns  # fmt: skip


def test_seed_rows_are_not_inserted(db_conn):
    # The config tree is the source of truth; 001 leaves out the seed's INSERTs.
    assert db_conn.execute("SELECT count(*) FROM oid_mappings").fetchone()[0] == 0
    assert db_conn.execute("SELECT count(*) FROM connectors").fetchone()[0] == 0


def test_accepts_a_connection_and_leaves_it_idle(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:  # autocommit off
        assert apply_migrations(conn) == SHIPPED
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert _applied(empty_db_url) == SHIPPED


def test_refuses_a_connection_inside_a_transaction(empty_db_url):
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(MigrationError, match="not inside a transaction"):
            apply_migrations(conn)


def test_changed_file_is_refused_by_name(empty_db_url, migrations_dir):
    apply_migrations(empty_db_url, directory=migrations_dir)
    edited = migrations_dir / "003_alert_identity.sql"
    edited.write_text(edited.read_text() + "\n-- an innocent comment is still a change\n")
    with pytest.raises(MigrationError, match="003_alert_identity.sql: changed after it was applied"):
        apply_migrations(empty_db_url, directory=migrations_dir)
    with pytest.raises(MigrationError, match="003_alert_identity.sql"):
        pending_migrations(empty_db_url, directory=migrations_dir)


def test_new_file_is_applied_after_the_others(empty_db_url, migrations_dir):
    apply_migrations(empty_db_url, directory=migrations_dir)
    (migrations_dir / "900_extra.sql").write_text("CREATE TABLE extra (id int);")
    assert pending_migrations(empty_db_url, directory=migrations_dir) == ["900_extra.sql"]
    assert apply_migrations(empty_db_url, directory=migrations_dir) == ["900_extra.sql"]
    assert _table_exists(empty_db_url, "extra")


def test_crash_between_two_migrations_keeps_the_first_only(empty_db_url, migrations_dir):
    (migrations_dir / "901_good.sql").write_text("CREATE TABLE good_one (id int);")
    (migrations_dir / "902_bad.sql").write_text(
        "CREATE TABLE half_done (id int);\nCREATE INDEX half_done_idx ON half_done (id);\n"
        "ALTER TABLE no_such_table ADD COLUMN x int;\n"
    )
    with pytest.raises(MigrationError, match="902_bad.sql") as caught:
        apply_migrations(empty_db_url, directory=migrations_dir)
    assert "no_such_table" in str(caught.value)
    assert _applied(empty_db_url)[-1] == "901_good.sql"
    assert _table_exists(empty_db_url, "good_one")
    assert not _table_exists(empty_db_url, "half_done")
    assert not _table_exists(empty_db_url, "half_done_idx")
    # Fixed, it applies on the next run, alone.
    (migrations_dir / "902_bad.sql").write_text("CREATE TABLE half_done (id int);")
    assert apply_migrations(empty_db_url, directory=migrations_dir) == ["902_bad.sql"]


def test_concurrent_runners_apply_each_file_once(empty_db_url, migrations_dir):
    # A slow migration widens the window in which the second runner would race.
    (migrations_dir / "950_slow.sql").write_text("SELECT pg_sleep(0.3); CREATE TABLE slow_one (id int);")
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            start.wait()
            results.append(apply_migrations(empty_db_url, directory=migrations_dir))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, len(SHIPPED) + 1]
    assert _applied(empty_db_url) == [*SHIPPED, "950_slow.sql"]


def test_misnamed_file_is_an_error(tmp_path):
    (tmp_path / "1-first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="1-first.sql"):
        discover(tmp_path)


def test_file_with_its_own_commit_is_an_error(tmp_path):
    (tmp_path / "001_x.sql").write_text("BEGIN;\nCREATE TABLE x (id int);\nCOMMIT;\n")
    with pytest.raises(MigrationError, match="001_x.sql: contains BEGIN/COMMIT"):
        discover(tmp_path)


def test_database_ahead_of_the_code_is_an_error(empty_db_url, migrations_dir, tmp_path):
    apply_migrations(empty_db_url, directory=migrations_dir)
    older = tmp_path / "older"
    shutil.copytree(migrations_dir, older)
    (older / SHIPPED[-1]).unlink()
    with pytest.raises(MigrationError, match=SHIPPED[-1]):
        apply_migrations(empty_db_url, directory=older)
