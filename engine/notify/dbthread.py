"""The notifier's database connection: one connection on a thread of its own, so the
notifier's event loop never blocks on PostgreSQL; reopened after an error."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger("opsconductor.notify")


class DbThread:
    def __init__(self, connect: Callable[[], Any], name: str = "opsc-notify-db") -> None:
        self._connect = connect  # () -> a psycopg connection
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: Any = None  # used on the pool's one thread only
        self.errors = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(conn, *args)` on the connection's thread; an error is counted, logged and raised
        (the connection is closed, the next call opens a new one)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn, args)

    def close(self) -> None:
        """Close the connection and stop the thread (from any thread but the connection's)."""
        self._pool.submit(self._close).result()
        self._pool.shutdown(wait=True)

    def _call(self, fn: Callable[..., Any], args: tuple) -> Any:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            return fn(self._conn, *args)
        except Exception as exc:
            self.errors += 1
            log.error("notifier: database error (%s: %s); trying again", type(exc).__name__, exc)
            self._close()
            raise

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection: nothing left to save
                pass
