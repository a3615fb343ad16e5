"""The web layer's database access: a small pool, opened on first use, closed at shutdown.

Endpoints are async; every query runs in the thread pool through `Db.run(fn, ...)`,
which hands `fn` a pooled (autocommit) connection, the way the store modules expect.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from opsconductor.engine.errors import StoreError
from opsconductor.engine.store.pool import close_pool, open_pool

from .errors import ApiError

T = TypeVar("T")


class Db:
    def __init__(self, url: str, *, max_size: int = 8):
        self.url = url
        self._max_size = max_size
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}

    def pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    # The dashboard's queries are short: JIT compilation (tens of ms, chosen by
                    # cost on a million rows) would cost more than it saves.
                    url = make_conninfo(self.url, options="-c jit=off")
                    self._pool = open_pool(url, min_size=1, max_size=self._max_size, timeout=5.0)
                except StoreError as exc:
                    raise ApiError(503, str(exc)) from None
            return self._pool

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with self.pool().connection() as conn:
                return fn(conn, *args, **kwargs)
        except psycopg.OperationalError as exc:
            raise ApiError(503, "the database is not answering; try again shortly",
                           {"reason": type(exc).__name__}) from None
        except psycopg.DataError as exc:  # a value of the request the database cannot take (the net under
            # the endpoints' own checks: a NUL in a text, a number out of range)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ApiError(400, f"a value in this request is not valid: {first}", {"reason": "invalid_value"}) from None

    async def cached(self, key: str, ttl: float, fn: Callable[..., T], *args: Any) -> T:
        """fn's answer, reused for `ttl` seconds (the wall screen's counts: cheap to be 2 s old)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        value = await self.run(fn, *args)
        self._cache[key] = (now, value)
        return value

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_in_threadpool(self.call, fn, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                close_pool(self._pool)
                self._pool = None
