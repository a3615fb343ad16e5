"""GET /api/v1/stream: changed alerts as server-sent events, for every open page.

Each stream subscribes to the app's one LiveHub (web/live.py: one LISTEN for all
browsers) and filters the hub's batches with its own query parameters (the same as
GET /api/v1/alerts). Events:

- `ready` once the stream is open;
- `alerts` {"items": [alerts that match the filter], "gone": [ids that changed and no
  longer match], "counts": {open counts by status and severity}} — pages redraw their
  live parts from it;
- `resync` when news may have been lost (the hub's LISTEN reconnected, or this stream
  fell behind): read the state again.

A comment line every 15 s keeps proxies from closing an idle stream; the browser's
EventSource reconnects by itself, and a page resynchronises after each reconnect.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from .errors import ApiError
from .live import Batch
from .queries import AlertFilter, jsonable

HEARTBEAT_S = 15.0
MAX_CLIENTS = 256


async def stream(request: Request) -> StreamingResponse:
    request.app.state.auth.require_read(request)
    flt = AlertFilter.from_params(request.query_params)
    state = request.app.state
    if state.http_metrics.sse_clients >= MAX_CLIENTS:
        raise ApiError(503, f"too many live streams open (at most {MAX_CLIENTS}); try again later")
    headers = {"X-Accel-Buffering": "no", "Cache-Control": "no-store"}
    return StreamingResponse(_events(request, flt), media_type="text/event-stream", headers=headers)


async def _events(request: Request, flt: AlertFilter) -> AsyncIterator[str]:
    state = request.app.state
    hub = state.live
    queue = hub.subscribe()
    state.http_metrics.sse_clients += 1
    try:
        yield "retry: 2000\nevent: ready\ndata: {}\n\n"
        while True:
            try:
                batch: Batch = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except asyncio.TimeoutError:
                yield ": ping\n\n"
                continue
            if batch.resync:
                yield "event: resync\ndata: {}\n\n"
                continue
            items = [r for r in batch.rows if flt.matches(r)]
            gone = [r["id"] for r in batch.rows if not flt.matches(r)]
            data = {"items": jsonable(items), "gone": gone, "counts": batch.counts}
            yield f"event: alerts\ndata: {json.dumps(data)}\n\n"
    finally:
        hub.unsubscribe(queue)
        state.http_metrics.sse_clients -= 1


ROUTES = [Route("/api/v1/stream", stream, methods=["GET"])]
