"""Dashboard pages: the alert list (live), one alert, and its acknowledge/resolve forms."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import queries
from .api_alerts import change_alert, check_note
from .auth import Principal
from .detail import alert_detail
from .errors import ApiError
from .queries import AlertFilter
from .render import form, multi, page, reader, signed_in_with

DEFAULT_FILTER = {"status": "open"}
COUNTS_TTL_S = 2.0


async def alert_list(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    params = multi(request) if request.query_params else dict(DEFAULT_FILTER)
    flt = AlertFilter.from_params(params)
    limit = queries.parse_limit(params.get("limit"))
    cursor = params.get("cursor") or None
    db = request.app.state.db
    rows, next_cursor = await db.run(queries.list_alerts, flt, cursor=cursor, limit=limit)
    counts = await db.cached("open_counts", COUNTS_TTL_S, queries.open_counts)
    query = flt.query_items()
    return page(request, "alerts.html", {
        "rows": rows, "flt": flt, "counts": counts, "first_page": cursor is None,
        "next_url": "/alerts?" + urlencode(query + [("cursor", next_cursor)]) if next_cursor else None,
        "first_url": "/alerts?" + urlencode(query or [("status", "")]),
        "stream_query": urlencode(query),
    }, who=who)


async def alert_page(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    alert_id = request.path_params["alert_id"]
    detail = await request.app.state.db.run(alert_detail, alert_id)
    if detail is None:
        raise ApiError(404, f"no alert has id {alert_id!r}", {"alert_id": alert_id})
    raw = json.dumps(detail["alert"]["raw_data"], indent=2, sort_keys=True, default=str)
    custom = json.dumps(detail["alert"]["custom_fields"], indent=2, sort_keys=True, default=str)
    done = request.query_params.get("done")
    return page(request, "alert.html", {**detail, "raw": raw, "custom": custom, "done": done}, who=who)


async def acknowledge(request: Request) -> Response:
    return await _change(request, "acknowledge")


async def resolve(request: Request) -> Response:
    return await _change(request, "resolve")


async def _change(request: Request, action: str) -> Response:
    data = await form(request)
    alert_id = request.path_params["alert_id"]
    who = signed_in_with(request, "operator", f"{action} an alert", f"/alerts/{alert_id}")
    if isinstance(who, Response):
        return who
    note = check_note(data.get("note"))
    result = await change_alert(request, alert_id, action, who, note)
    return RedirectResponse(f"/alerts/{alert_id}?done={result['action']}", status_code=303)


ROUTES = [
    Route("/alerts", alert_list, methods=["GET"]),
    Route("/alerts/{alert_id}", alert_page, methods=["GET"]),
    Route("/alerts/{alert_id}/acknowledge", acknowledge, methods=["POST"]),
    Route("/alerts/{alert_id}/resolve", resolve, methods=["POST"]),
]
