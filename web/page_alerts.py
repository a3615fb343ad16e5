"""Dashboard pages: the alert list (live, roots first, act on several), one alert, and
the acknowledge/resolve forms."""
from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import queries, rootcause
from .api_alerts import change_alert, check_note
from .commands import read_only
from .auth import Principal
from .detail import alert_detail
from .errors import ApiError
from .queries import AlertFilter
from .render import form, multi, page, reader, signed_in_with, silenced_now

DEFAULT_FILTER = {"status": "open"}
COUNTS_TTL_S = 0.5  # a wall of pages redrawing on the same news shares one count
BULK_MAX = queries.MAX_LIMIT


async def alert_list(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    params = multi(request) if request.query_params.keys() - {"done", "n"} else dict(DEFAULT_FILTER)
    flt = AlertFilter.from_params(params)
    limit = queries.parse_limit(params.get("limit"))
    cursor = params.get("cursor") or None
    db = request.app.state.db
    silenced = silenced_now(request)
    rows, next_cursor, groups = await db.run(rootcause.list_page, flt, cursor=cursor, limit=limit)
    counts = await db.cached("counts", COUNTS_TTL_S, rootcause.counts, silenced)
    mark_silenced([*rows, *(r for g in groups.values() for r in g["rows"])], silenced)
    query = flt.query_items()
    done = request.query_params.get("done")
    return page(request, "alerts.html", {
        "rows": rows, "groups": groups, "flt": flt, "counts": counts, "first_page": cursor is None,
        "next_url": "/alerts?" + urlencode(query + [("cursor", next_cursor)]) if next_cursor else None,
        "first_url": "/alerts?" + urlencode(query or [("status", "")]),
        "stream_query": urlencode(query), "here": "/alerts?" + urlencode(query or [("status", "")]),
        "done": done, "done_n": request.query_params.get("n"),
    }, who=who)


def mark_silenced(rows: list[dict], silenced: dict[str, str]) -> None:
    for r in rows:
        r["silenced_by"] = silenced.get(r["id"])


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
    silenced_by = silenced_now(request).get(alert_id)
    return page(request, "alert.html", {**detail, "raw": raw, "custom": custom, "done": done,
                                        "silenced_by": silenced_by, "read_only": read_only(request)}, who=who)


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


async def bulk(request: Request) -> Response:
    """Acknowledge or resolve the alerts ticked in the list, with one note. Each goes the
    way of a single one (change_alert: a command the engine applies); alerts another
    operator changed meanwhile are skipped, not an error."""
    data = await form(request, lists=("id",), max_fields=BULK_MAX + 8)
    back = str(data.get("back", ""))
    if not back.startswith("/alerts"):
        back = "/alerts"
    who = signed_in_with(request, "operator", "acknowledge or resolve alerts", back)
    if isinstance(who, Response):
        return who
    action = data.get("action")
    if action not in ("acknowledge", "resolve"):
        raise ApiError(400, "action must be acknowledge or resolve", {"field": "action"})
    ids = list(dict.fromkeys(data.get("id") or []))[:BULK_MAX]
    if not ids:
        raise ApiError(400, "tick at least one alert", {"field": "id"})
    note = check_note(data.get("note"))
    changed = 0
    for alert_id in ids:
        try:
            await change_alert(request, alert_id, action, who, note)
            changed += 1
        except ApiError as exc:
            if exc.status != 409:  # 409: already in that state (someone was quicker)
                raise
    sep = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{sep}done={action}&n={changed}", status_code=303)


ROUTES = [
    Route("/alerts", alert_list, methods=["GET"]),
    Route("/alerts/bulk", bulk, methods=["POST"]),
    Route("/alerts/{alert_id}", alert_page, methods=["GET"]),
    Route("/alerts/{alert_id}/acknowledge", acknowledge, methods=["POST"]),
    Route("/alerts/{alert_id}/resolve", resolve, methods=["POST"]),
]
