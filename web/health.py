"""GET /healthz: answers within 1 s in every state and says why it is not ok.

Two probes, each single-flight on its own two threads (never the request thread pool,
which a database outage can fill with requests waiting for a connection):

* the database: `SELECT 1` on a connection of its own (connect_timeout 1 s, TCP user
  timeout 2 s), reopened when broken;
* the engine: `EngineView.health()`, in memory; its `reasons` list is the hook every
  part of the engine adds to (connectors failing to start, the intake spooling, ...).

A probe still running after its deadline is reported as not answering, and the next
request waits for the same probe rather than starting another, so a hung database never
costs more than one thread. Body:

    {"status": "ok"|"degraded"|"failing", "database": "ok"|"error: …",
     "engine": {...}, "reasons": ["database down: …", "connector traps is failing: …"]}

`failing` (503): the engine's worker is dead, or there is no engine (a read-only
dashboard) and the database is down. A database outage under a running engine is
`degraded` (200): the engine keeps accepting into its journal, and restarting it would
not help.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Callable

import psycopg

from .queries import jsonable
from .settings import EngineView

DATABASE_DEADLINE = 0.7  # seconds; both probes run side by side, so the answer comes within 1 s
ENGINE_DEADLINE = 0.7


class _SingleFlight:
    """Runs fn on a dedicated thread; callers within one run share it."""

    def __init__(self, executor: concurrent.futures.Executor, fn: Callable[[], Any]):
        self._executor, self._fn = executor, fn
        self._lock = threading.Lock()
        self._future: concurrent.futures.Future | None = None

    async def result(self, deadline: float) -> Any:
        with self._lock:
            if self._future is None or self._future.done():
                self._future = self._executor.submit(self._fn)
            future = self._future
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), deadline)


class HealthProbe:
    def __init__(self, database_url: str):
        self._url = database_url
        self._conn: psycopg.Connection | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz")
        self._database = _SingleFlight(self._executor, self._ping)
        self._engine: EngineView | None = None
        self._engine_probe = _SingleFlight(self._executor, lambda: self._engine.health() if self._engine else {})

    def _ping(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._conn = conn = psycopg.connect(self._url, autocommit=True, connect_timeout=1,
                                                tcp_user_timeout=2000, keepalives=1)
        try:
            conn.execute("SELECT 1").fetchone()
        except psycopg.Error:
            conn.close()
            self._conn = None
            raise

    async def check(self, engine: EngineView | None) -> tuple[int, dict[str, Any]]:
        self._engine = engine
        reasons: list[str] = []
        db_task = asyncio.ensure_future(self._database.result(DATABASE_DEADLINE))
        engine_task = asyncio.ensure_future(self._engine_probe.result(ENGINE_DEADLINE)) if engine else None
        try:
            await db_task
            database = "ok"
        except asyncio.TimeoutError:
            database = f"error: not answering within {DATABASE_DEADLINE:g} s"
        except Exception as exc:  # a health probe reports, it does not fail
            database = f"error: {_first_line(exc)}"
        if database != "ok":
            reasons.append(f"database down: {database[len('error: '):]}")
        body: dict[str, Any] = {"status": "ok", "database": database}
        failing = database != "ok" and engine is None
        if engine_task is not None:
            try:
                health = jsonable(await engine_task) or {}
            except asyncio.TimeoutError:
                health = {"engine": "degraded", "reasons": [f"the engine did not answer within {ENGINE_DEADLINE:g} s"]}
            except Exception as exc:
                health = {"engine": "failing", "reasons": [f"the engine's health check failed: {type(exc).__name__}"]}
            reasons += [str(r) for r in health.pop("reasons", None) or ()]
            body["engine"] = health
            state = health.get("engine", "ok")
            if state == "failing":
                failing = True
                if not any(r.startswith("the engine") for r in reasons):
                    reasons.append("the engine's pipeline worker is not running")
            elif state != "ok" and not reasons:
                reasons.append(f"the engine says {state}")
        body["status"] = "failing" if failing else "degraded" if reasons else "ok"
        body["reasons"] = reasons
        return (503 if failing else 200), body

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
