"""JSON API: /api/v1/alerts — list, detail, acknowledge, resolve."""
from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from opsconductor.engine.pipeline.commands import CommandAnswer, OperatorCommand, Outcome, Verb

from . import queries
from .auth import Principal
from .commands import applied, running_engine
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
    """Acknowledge or resolve as `who`: a command on the engine's queue, answered once the
    engine has written it (the engine is the only writer of alerts; its open-alert view and
    the database move together). 404 / 409 / 503 as ApiErrors."""
    engine = running_engine(request, {"action": action})
    if not _is_uuid(alert_id):
        raise ApiError(404, f"no alert has id {alert_id!r}", {"alert_id": alert_id})
    actor = who.actor
    future = engine.command(OperatorCommand(alert_id, Verb(action), actor.user_id, actor.user_name, note))
    answer = await applied(future, action, {"alert_id": alert_id})
    assert isinstance(answer, CommandAnswer)  # the answer to an OperatorCommand
    old, new = answer.old_status, answer.new_status  # both set unless NOT_OPEN
    if old is None:  # NOT_OPEN: unknown, or resolved already: the database says which
        status = await request.app.state.db.run(stored_status, alert_id)
        if status is None:
            raise ApiError(404, f"no alert has id {alert_id!r}", {"alert_id": alert_id})
    else:
        status = old.value
    if answer.outcome is not Outcome.APPLIED or new is None:
        raise ApiError(409, f"cannot {action} an alert that is {status}",
                       {"alert_id": alert_id, "status": status, "action": action})
    return {"alert_id": alert_id, "action": answer.action, "old_status": status, "new_status": new.value,
            "by": who.name}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def stored_status(conn: psycopg.Connection, alert_id: str) -> str | None:
    row = conn.execute("SELECT status FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    return row[0] if row else None


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


ROUTES = [
    Route("/api/v1/alerts", list_alerts, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}", get_alert, methods=["GET"]),
    Route("/api/v1/alerts/{alert_id}/acknowledge", acknowledge, methods=["POST"]),
    Route("/api/v1/alerts/{alert_id}/resolve", resolve, methods=["POST"]),
]
