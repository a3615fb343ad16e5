"""One LISTEN for the whole app: the hub that tells every open page what changed.

The engine (and an operator's acknowledge/resolve) runs `NOTIFY opsc_alerts, '<id>,…'`
after each commit. The hub holds the app's only LISTEN connection; notifications
arriving close together are gathered, the alerts fetched once, the open counts read
once, and the batch handed to every open stream (a queue each), which filters it for
its page. A hundred browsers cost one connection and one query per batch, not a
connection each. When the LISTEN connection breaks, notifications may have been lost:
the hub reconnects and tells every stream to resynchronise.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsconductor.engine.store.alerts import NOTIFY_CHANNEL

from . import queries
from .db import Db

log = logging.getLogger("opsconductor.web")

GATHER_S = 0.1  # notifications this close together become one batch
MAX_IDS = 500
QUEUE_MAX = 64  # batches a slow stream may fall behind before it is told to resync
RETRY_S = (0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Batch:
    rows: tuple[dict[str, Any], ...] = ()  # the changed alerts, whatever their filter
    counts: dict[str, Any] = field(default_factory=dict)
    resync: bool = False  # news may have been lost: redraw from the database


RESYNC = Batch(resync=True)


class LiveHub:
    def __init__(self, db: Db):
        self.db = db
        self.streams: set[asyncio.Queue[Batch]] = set()
        self.connected = asyncio.Event()
        self._task: asyncio.Task | None = None

    def subscribe(self) -> asyncio.Queue[Batch]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="opsc-live-hub")
        q: asyncio.Queue[Batch] = asyncio.Queue(QUEUE_MAX)
        self.streams.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Batch]) -> None:
        self.streams.discard(q)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def publish(self, batch: Batch) -> None:
        for q in list(self.streams):
            try:
                q.put_nowait(batch)
            except asyncio.QueueFull:  # a stream that cannot keep up redraws instead
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(RESYNC)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.db.url, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                await self._pause(attempt, exc)
                attempt += 1
                continue
            try:
                async with conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.connected.set()
                    if attempt:
                        self.publish(RESYNC)  # what was NOTIFYed while we were away is lost
                    attempt = 0
                    await self._listen(conn)
            except psycopg.OperationalError as exc:
                self.connected.clear()
                await self._pause(attempt, exc)
                attempt += 1

    async def _pause(self, attempt: int, exc: Exception) -> None:
        if attempt == 0:
            log.warning("live updates: the LISTEN connection is down (%s); retrying", exc)
        await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])

    async def _listen(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            ids: list[str] = []
            async for n in conn.notifies(stop_after=1):
                ids += _ids(n.payload)
            async for n in conn.notifies(timeout=GATHER_S):
                ids += _ids(n.payload)
                if len(ids) >= MAX_IDS:
                    break
            if not self.streams:
                continue
            try:
                # Non-alert news ("silences") has no rows: the pages still redraw (counts, badges).
                rows = await self.db.run(queries.alerts_by_ids, list(dict.fromkeys(ids)), queries.AlertFilter())
                counts = await self.db.run(queries.open_counts)
            except Exception as exc:  # the pool is down: the streams redraw when it is back
                log.warning("live updates: could not read the changed alerts: %s", exc)
                self.publish(RESYNC)
                continue
            self.publish(Batch(tuple(rows), counts))


def _ids(payload: str) -> list[str]:
    return [i.strip() for i in payload.split(",") if i.strip()]
