"""The embedded PostgreSQL wrapper, driven with real processes: owners, kills, stale pid files."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from opsconductor.engine.errors import StoreError
from opsconductor.engine.store.database import Database, DatabaseLocation
from opsconductor.engine.store.embedded import EmbeddedPostgres
from waiting import eventually

pytestmark = pytest.mark.embedded

# A second owner in its own process: start, print the URL, stop when told on stdin.
OWNER = """
import sys
from pathlib import Path
from opsconductor.engine.store.embedded import EmbeddedPostgres
pg = EmbeddedPostgres(Path(sys.argv[1]))
print(pg.start(), flush=True)
if sys.stdin.readline().strip() == "stop":
    pg.stop()
    print("stopped", flush=True)
"""

# An unrelated process that writes down every signal it receives.
RECORDER = """
import signal, sys, time
log = open(sys.argv[1], "a", buffering=1)
for s in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}:
    try:
        signal.signal(s, lambda n, f: log.write(f"{n}\\n"))
    except (OSError, ValueError):
        pass
log.write("ready\\n")
while True:  # idles until killed: it only has to be a live, unrelated pid
    time.sleep(60)
"""


@pytest.fixture
def data_dir(monkeypatch):
    """`<tmp>/var` for the test's server; a sibling `<tmp>/other` may hold a second one.

    Not under tmp_path: as root the server runs as another user that must traverse every
    parent, and each new pytest session chmods /tmp/pytest-of-root back to 0700, which
    makes a running server PANIC (measured). A private dir straight under /tmp is safe.
    """
    monkeypatch.setenv("OPSC_EMBEDDED_FSYNC", "off")
    monkeypatch.delenv("OPSC_DATABASE_URL", raising=False)
    base = Path(tempfile.mkdtemp(prefix="opsc-test-embedded-"))
    try:
        yield base / "var"
        # No test may leave a server behind; stop it here and say so.
        for sub in (base / "var", base / "other"):
            pg = EmbeddedPostgres(sub)
            if pg._our_postmaster() is not None:
                pg._pg_ctl_stop("immediate")
                pytest.fail(f"test left the embedded server in {sub} running")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None


def alive(pid: int) -> bool:
    """Running now (not a zombie)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pid: int, what: str = "the server exits") -> bool:
    """Wait until `pid` has exited (or is a zombie); fails naming `what` if it never does."""
    return bool(eventually(lambda: not alive(pid), f"{what} (pid {pid})"))


def select_one(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("select 1").fetchone()[0]


def spawn_owner(data_dir: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(data_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url:
        proc.kill()
        pytest.fail(f"owner process failed: {proc.communicate(timeout=10)[1]}")
    return proc, url


def end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_start_select_stop(data_dir):
    pg = EmbeddedPostgres(data_dir)
    try:
        url = pg.start()
        assert pg.start() == url == pg.url  # idempotent
        assert select_one(url) == 1
        pid = postmaster_pid(data_dir)
        assert psutil.Process(pid).name() == "postgres"
        with psycopg.connect(url) as conn:
            assert conn.execute("show shared_buffers").fetchone() == ("128MB",)
            assert conn.execute("show max_connections").fetchone() == ("100",)
        # TCP on 127.0.0.1 wants the password written in the data dir; it is not trust.
        port = int((data_dir / "port").read_text())
        password = (data_dir / "postgres.password").read_text().strip()
        tcp = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        assert select_one(f"{tcp}?password={password}") == 1
        with pytest.raises(psycopg.OperationalError):
            select_one(f"{tcp}?password=wrong")
    finally:
        pg.stop()
    assert pg.url is None
    assert gone(pid)
    assert postmaster_pid(data_dir) is None


def test_second_owner_reuses_and_last_one_stops(data_dir):
    owner, url = spawn_owner(data_dir)
    try:
        pid = postmaster_pid(data_dir)
        pg = EmbeddedPostgres(data_dir)
        try:
            assert pg.start() == url
            assert postmaster_pid(data_dir) == pid
            owner.stdin.write("stop\n")
            owner.stdin.flush()
            assert owner.stdout.readline().strip() == "stopped"
            assert owner.wait(timeout=10) == 0
            assert alive(pid)
            assert select_one(url) == 1
        finally:
            pg.stop()
        assert gone(pid)
    finally:
        end(owner)


def test_killed_owner_leaves_a_server_the_next_owner_reuses_and_stops(data_dir):
    owner, url = spawn_owner(data_dir)
    try:
        pid = postmaster_pid(data_dir)
        owner.kill()
        # Not reaped yet: the dead owner is a zombie with its pid and create time intact.
        eventually(lambda: psutil.Process(owner.pid).status() == psutil.STATUS_ZOMBIE, "the killed owner is a zombie")
        assert alive(pid), "the server must outlive a killed owner"
        pg = EmbeddedPostgres(data_dir)
        try:
            assert pg.start() == url
            assert postmaster_pid(data_dir) == pid
            assert select_one(url) == 1
        finally:
            pg.stop()
        assert gone(pid, "the dead owner's claim must not keep the server up")
    finally:
        end(owner)


def test_killed_server_is_recovered(data_dir):
    pg = EmbeddedPostgres(data_dir)
    try:
        with psycopg.connect(pg.start(), autocommit=True) as conn:
            conn.execute("create table t (x int); insert into t values (42)")
        pid = postmaster_pid(data_dir)
        psutil.Process(pid).kill()  # our own server, as an OOM killer would
        assert gone(pid)
        pg.stop()  # the server is already dead: nothing to stop, no error
        url = pg.start()  # stale postmaster.pid with a dead pid: crash recovery
        assert postmaster_pid(data_dir) != pid
        with psycopg.connect(url) as conn:
            assert conn.execute("select x from t").fetchone() == (42,)
    finally:
        pg.stop()


def test_stale_pid_file_of_an_unrelated_process_is_never_signalled(data_dir, tmp_path):
    pg = EmbeddedPostgres(data_dir)
    pg.start()
    pg.stop()  # an initialised, stopped data dir
    signals = tmp_path / "signals.txt"
    recorder = subprocess.Popen([sys.executable, "-c", RECORDER, str(signals)])
    sleeper = subprocess.Popen(["sleep", "60"])  # another live, unrelated pid; killed at the end
    try:
        eventually(lambda: signals.exists() and signals.read_text(), "the recorder has its handlers")
        for victim in (recorder, sleeper):
            pid_file = data_dir / "pgdata" / "postmaster.pid"
            pid_file.write_text(f"{victim.pid}\n{data_dir / 'pgdata'}\n{int(time.time())}\n5432\n"
                                f"{pg.socket_dir}\n127.0.0.1\n  1234567   0\nready \n")
            url = pg.start()
            assert postmaster_pid(data_dir) != victim.pid
            assert select_one(url) == 1
            pg.stop()
            assert recorder.poll() is None and sleeper.poll() is None
        assert signals.read_text() == "ready\n", "the unrelated process received a signal"
    finally:
        pg.stop()
        end(recorder)
        end(sleeper)


def test_pid_file_naming_another_clusters_postmaster_is_stale(data_dir):
    other_dir = data_dir.parent / "other"
    other = EmbeddedPostgres(other_dir)
    mine = EmbeddedPostgres(data_dir)
    try:
        other_url = other.start()
        other_pid = postmaster_pid(other_dir)
        mine.start()
        mine.stop()
        (data_dir / "pgdata" / "postmaster.pid").write_text(
            (other_dir / "pgdata" / "postmaster.pid").read_text())
        assert mine.start() != other_url
        mine.stop()
        assert alive(other_pid), "stopping ours must not stop the other cluster"
        assert select_one(other_url) == 1
    finally:
        try:
            mine.stop()
        finally:
            other.stop()


def test_failed_start_names_data_dir_and_log_and_leaves_nothing_running(data_dir):
    pg = EmbeddedPostgres(data_dir)
    pg.start()
    pg.stop()
    with open(data_dir / "pgdata" / "postgresql.conf", "a") as conf:
        conf.write("shared_buffers = nonsense\n")
    with pytest.raises(StoreError) as raised:
        pg.start()
    message = str(raised.value)
    assert str(data_dir) in message and "postgresql.log" in message
    assert 'invalid value for parameter "shared_buffers"' in message
    assert pg.url is None and postmaster_pid(data_dir) is None
    assert (data_dir / "owners.json").read_text().strip() == "[]"


def test_a_data_directory_of_another_major_is_refused_with_what_to_do(data_dir):
    pg = EmbeddedPostgres(data_dir)
    pg.start()
    pg.stop()
    version_file = data_dir / "pgdata" / "PG_VERSION"
    installed = version_file.read_text().strip()
    version_file.write_text("9\n")  # as a directory from an older install would say
    with pytest.raises(StoreError) as raised:
        pg.start()
    message = str(raised.value)
    assert f"made by PostgreSQL 9, but the installed embedded server is PostgreSQL {installed}" in message
    assert "OPSC_DATA_DIR" in message and pg.url is None and postmaster_pid(data_dir) is None


@pytest.mark.parametrize("how", ["exit", "sigterm"])
def test_owner_that_exits_or_is_terminated_stops_the_server(data_dir, how):
    owner, url = spawn_owner(data_dir)
    try:
        pid = postmaster_pid(data_dir)
        if how == "exit":
            owner.stdin.close()  # readline returns "", the script ends without stop(): atexit
        else:
            owner.send_signal(signal.SIGTERM)
        assert owner.wait(timeout=20) in (0, 128 + signal.SIGTERM)
        assert gone(pid)
    finally:
        end(owner)


def test_database_with_url_starts_no_embedded_server(tmp_path, monkeypatch):
    monkeypatch.delenv("OPSC_DATABASE_URL", raising=False)
    url = "postgresql://opsc:s3cret@127.0.0.1:1/opsc"  # never connected to
    with Database(database_url=url, data_dir=tmp_path / "var") as location:
        assert location == DatabaseLocation(url=url, embedded=False)
        assert "s3cret" not in repr(location)
    monkeypatch.setenv("OPSC_DATABASE_URL", url)
    with Database(data_dir=tmp_path / "var") as location:
        assert location.embedded is False
    assert not (tmp_path / "var").exists()


def test_database_with_external_server(tmp_path, monkeypatch):
    url = os.environ.get("OPSC_TEST_DATABASE_URL")
    if not url:
        pytest.skip("OPSC_TEST_DATABASE_URL is not set")
    with Database(database_url=url, data_dir=tmp_path / "var") as location:
        assert location.embedded is False
        assert select_one(location.url) == 1
    assert not (tmp_path / "var").exists()


def test_database_without_url_uses_embedded_server(data_dir, monkeypatch):
    monkeypatch.setenv("OPSC_DATA_DIR", str(data_dir))
    db = Database()
    try:
        location = db.open()
        assert location.embedded is True
        assert (data_dir / "pgdata" / "PG_VERSION").exists()
        assert select_one(location.url) == 1
        pid = postmaster_pid(data_dir)
    finally:
        db.close()
    assert gone(pid)
