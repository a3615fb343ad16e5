"""JSON API: /api/v1/alerts — list, detail, acknowledge, resolve."""
from __future__ import annotations

import json
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opsconductor.engine.store import alerts as store
from opsconductor.engine.store.alerts import UnknownAlertError
from opsconductor.engine.store.batch import NOTIFY_CHANNEL

from . import queries
from .auth import Principal
from .detail import alert_detail
from .errors import ApiError
from .queries import AlertFilter, jsonable

NOTE_MAX = 2000


async def list_alerts(request: Request) -> JSONResponse:
    request.app.state.auth.require_read(request)
    params = request.query_params
    flt = AlertFilter.from_params(params)
    limit = queries.parse_limit(params.get("limit"))
    items, next_cursor = await request.app.state.db.run(queries.list_alerts, flt, cursor=params.get("cursor"),
                                                        limit=limit)
    return JSONResponse({"items": jsonable(items), "next_cursor": next_cursor})


async def get_alert(request: Request) -> JSONResponse:
    request.app.state.auth.require_read(request)
    alert_id = request.path_params["alert_id"]
    detail = await request.app.state.db.run(alert_detail, alert_id)
    if detail is None:
        raise ApiError(404, f"no alert has id {alert_id!r}", {"alert_id": alert_id})
    return JSONResponse(detail)


async def acknowledge(request: Request) -> JSONResponse:
    return await _change(request, "acknowledge")


async def resolve(request: Request) -> JSONResponse:
    return await _change(request, "resolve")


async def _change(request: Request, action: str) -> JSONResponse:
    # Writes take bearer tokens only: a cookie never authorizes a JSON write (no CSRF surface).
    who = request.app.state.auth.require(request, "operator", cookies=False)
    note = _note(await request.body())
    return JSONResponse(await change_alert(request, request.path_params["alert_id"], action, who, note))


async def change_alert(request: Request, alert_id: str, action: str, who: Principal, note: str | None) -> dict:
    """Store the operator's change, then tell the running engine so its open-alert view follows
    (a recurrence after a resolve is a new alert; an acknowledged alert is not repeated)."""
    result = await request.app.state.db.run(transition, alert_id, action, who, note)
    engine = request.app.state.engine
    if engine is not None:
        engine.alert_changed(alert_id, result["new_status"])
    return result


def _note(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: [[[[…]]]]
        raise ApiError(400, "the body must be JSON, e.g. {\"note\": \"on it\"}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object, e.g. {\"note\": \"on it\"}")
    unknown = sorted(set(data) - {"note"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}; only 'note' is accepted", {"fields": unknown})
    return check_note(data.get("note"))


def check_note(note: Any) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise ApiError(400, "note must be a string", {"field": "note"})
    if len(note) > NOTE_MAX:
        raise ApiError(400, f"note is longer than {NOTE_MAX} characters", {"field": "note", "max": NOTE_MAX})
    if "\x00" in note or not note.isascii() and not _utf8(note):
        raise ApiError(400, "note must be text without NUL characters or lone surrogates", {"field": "note"})
    return note.strip() or None


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def transition(conn: psycopg.Connection, alert_id: str, action: str, who: Principal, note: str | None) -> dict:
    """Acknowledge or resolve as `who` (recorded in alert_history); 404 / 409 as errors."""
    change = store.acknowledge if action == "acknowledge" else store.resolve
    try:
        result = change(conn, alert_id, actor=who.actor, notes=note)
    except UnknownAlertError:
        raise ApiError(404, f"no alert has id {alert_id!r}", {"alert_id": alert_id}) from None
    if not result.changed:
        raise ApiError(409, f"cannot {action} an alert that is {result.old_status.value}",
                       {"alert_id": alert_id, "status": result.old_status.value, "action": action})
    # Every open page hears of it, as of the engine's own batches.
    conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, alert_id))
    return {"alert_id": alert_id, "action": result.action.value, "old_status": result.old_status.value,
            "new_status": result.new_status.value, "by": who.name}


ROUTES = [
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}", get_alert, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/acknowledge", acknowledge, methods=["POST"]),
    Route("/api/v1/alerts/{alert_id}/resolve", resolve, methods=["POST"]),
]
