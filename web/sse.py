"""GET /api/v1/stream: new and changed alerts as server-sent events.

The engine runs `NOTIFY opsc_alerts, '<id>[,<id>…]'` after each committed batch. Each
stream holds its own LISTEN connection (psycopg async, conn.notifies()); notifications
arriving close together are gathered, the alerts fetched once through the pool, passed
through the stream's filter (the same query parameters as GET /api/v1/alerts) and sent
as one `alerts` event: {"items": [...], "html": "<tr>…"} (the rows as the list page
draws them, so the page's script only inserts them). A comment line every 15 s keeps
proxies from closing an idle stream.
"""
from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import psycopg
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from . import queries
from .errors import ApiError
from .queries import AlertFilter, jsonable

log = logging.getLogger("opsconductor.web")

CHANNEL = "opsc_alerts"
HEARTBEAT_S = 15.0
GATHER_S = 0.1
MAX_CLIENTS = 64


async def stream(request: Request) -> StreamingResponse:
    request.app.state.auth.require_read(request)
    flt = AlertFilter.from_params(request.query_params)
    state = request.app.state
    if state.http_metrics.sse_clients >= MAX_CLIENTS:
        raise ApiError(503, f"too many live streams open (at most {MAX_CLIENTS}); try again later")
    try:
        conn = await psycopg.AsyncConnection.connect(state.db.url, autocommit=True, connect_timeout=5)
        await conn.execute(f"LISTEN {CHANNEL}")
    except psycopg.OperationalError:
        raise ApiError(503, "the database is not answering; the live stream will retry") from None
    headers = {"X-Accel-Buffering": "no"}
    return StreamingResponse(_events(request, conn, flt), media_type="text/event-stream", headers=headers)


async def _events(request: Request, conn: psycopg.AsyncConnection, flt: AlertFilter) -> AsyncIterator[str]:
    state = request.app.state
    rows_template = state.templates.get_template("_rows.html")
    state.http_metrics.sse_clients += 1
    try:
        yield "retry: 3000\nevent: ready\ndata: {}\n\n"
        while True:
            ids: list[str] = []
            async for n in conn.notifies(timeout=HEARTBEAT_S, stop_after=1):
                ids += [i.strip() for i in n.payload.split(",") if i.strip()]
            if not ids:
                yield ": ping\n\n"
                continue
            async for n in conn.notifies(timeout=GATHER_S):
                ids += [i.strip() for i in n.payload.split(",") if i.strip()]
                if len(ids) >= 500:
                    break
            rows = await state.db.run(queries.alerts_by_ids, list(dict.fromkeys(ids)), flt)
            if rows:
                html = rows_template.render(rows=rows)
                yield f"event: alerts\ndata: {json.dumps({'items': jsonable(rows), 'html': html})}\n\n"
    except psycopg.OperationalError as exc:
        log.warning("live stream ended: %s", exc)
    finally:
        state.http_metrics.sse_clients -= 1
        await conn.close()


ROUTES = [Route("/api/v1/stream", stream, methods=["GET"])]
