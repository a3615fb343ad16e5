"""Silences: GET /api/v1/silences and the /silences page list the config's silences
(rules/, with file:line) beside the ad-hoc ones (the database's), each with what it holds
now; POST /api/v1/silences and DELETE /api/v1/silences/{id} (operator) create and end
ad-hoc ones as commands to the engine (engine/pipeline/silencing.py), which applies them
from its next event on and writes them: the web never writes a silence. Without an engine
they are refused (503), and the page says so instead of showing its forms."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from opsconductor.engine.config.bundle import Silence
from opsconductor.engine.config.durations import format_duration, parse_duration
from opsconductor.engine.errors import StoreError
from opsconductor.engine.pipeline.commands import Outcome
from opsconductor.engine.pipeline.silences import adhoc, describe_match, parse_match, storable
from opsconductor.engine.pipeline.silencing import CreateSilence, EndSilence, SilenceAnswer
from opsconductor.engine.rules.predicates import window_holds
from opsconductor.engine.store import silences as store

from .auth import Principal
from .commands import applied, read_only, running_engine
from .errors import ApiError
from .queries import jsonable
from .render import form, page, reader, signed_in_with, silenced_now

MAX_DAYS = 31  # an ad-hoc silence is for tonight, not for ever: longer ones belong in rules/
COMMENT_MAX = 1000


def _view(s: Silence, now: datetime, holding: dict[str, list[str]], stored: store.StoredSilence | None) -> dict:
    start = datetime.fromisoformat(s.starts_at) if s.starts_at else None
    end = datetime.fromisoformat(s.ends_at) if s.ends_at else None
    ended = end is not None and now >= end
    started = start is None or now >= start
    holds = started and not ended and window_holds(s.schedule, now)
    kind = "ended" if ended else "recurring" if s.schedule else "active" if started else "upcoming"
    held = holding.get(s.name, [])
    return {
        "name": s.name, "id": stored.id if stored else None, "origin": "adhoc" if stored else "config",
        "state": kind, "holds_now": holds, "matchers": describe_match(s.match),
        "starts_at": s.starts_at, "ends_at": s.ends_at, "owner": s.owner, "comment": s.comment,
        "schedule": jsonable(s.schedule), "source": str(s.source) if not stored else f"database (silence {stored.id})",
        "holding": held, "holding_count": len(held),
        "created_at": jsonable(stored.created_at) if stored else None,
        "ended_by": stored.deleted_by if stored else None,
    }


def _listing(conn: psycopg.Connection, config: list[Silence], silenced: dict[str, str]) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    holding: dict[str, list[str]] = {}
    for alert_id, name in silenced.items():
        holding.setdefault(name, []).append(alert_id)
    live, ended = store.live(conn), store.recent(conn)
    views = [_view(s, now, holding, None) for s in config]
    views += [_view(adhoc(s), now, holding, s) for s in live]
    out: dict[str, Any] = {k: [v for v in views if v["state"] == k] for k in ("active", "upcoming", "recurring")}
    out["ended"] = [_view(adhoc(s), now, holding, s) for s in ended]
    ids = [i for v in views for i in v["holding"]]
    titles = {}
    if ids:
        titles = {i: (t, d) for i, t, d in conn.execute(
            "SELECT id::text, title, device_name FROM alerts WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()}
    for v in views:
        v["holding"] = [{"id": i, "title": titles.get(i, ("", ""))[0], "device_name": titles.get(i, ("", ""))[1]}
                        for i in v["holding"]]
    return out


def _config_silences(request: Request) -> list[Silence]:
    engine = request.app.state.engine
    return list(engine.silences()) if engine is not None else []


async def listing(request: Request) -> dict[str, Any]:
    return await request.app.state.db.run(_listing, _config_silences(request), silenced_now(request))


async def api_list(request: Request) -> JSONResponse:
    request.app.state.auth.require_read(request)
    return JSONResponse(await listing(request))


def check(body: Any) -> tuple[dict, datetime, datetime, str]:
    """A new silence's matchers, start, end and comment; ApiError (400) names the field."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object: {\"matchers\": {...}, \"duration\": \"2h\", \"comment\": \"...\"}")
    unknown = sorted(set(body) - {"matchers", "duration", "starts_at", "ends_at", "comment"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", {"fields": unknown})
    try:
        parse_match(body.get("matchers"))
    except ValueError as exc:
        raise ApiError(400, str(exc), {"field": "matchers"}) from None
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip() or len(comment) > COMMENT_MAX or not storable(comment):
        raise ApiError(400, f"comment is required: why (a ticket, a change), at most {COMMENT_MAX} characters",
                       {"field": "comment"})
    now = datetime.now(timezone.utc)
    start = _when(body, "starts_at") if "starts_at" in body else now
    if "ends_at" in body and "duration" in body:
        raise ApiError(400, "give duration or ends_at, not both", {"field": "duration"})
    if "ends_at" in body:
        end = _when(body, "ends_at")
    else:
        try:
            end = start + timedelta(seconds=parse_duration(body.get("duration", "")))
        except ValueError as exc:
            raise ApiError(400, f"duration: {exc}", {"field": "duration"}) from None
    if end <= start or end <= now:
        raise ApiError(400, "the silence must end after it starts, and in the future", {"field": "ends_at"})
    if end - start > timedelta(days=MAX_DAYS):
        raise ApiError(400, f"an ad-hoc silence lasts at most {MAX_DAYS} days; put a longer one in rules/",
                       {"field": "duration"})
    return dict(body["matchers"]), start, end, comment.strip()


def _when(body: dict, key: str) -> datetime:
    try:
        when = datetime.fromisoformat(str(body[key]))
    except ValueError:
        raise ApiError(400, f"{key} is not an ISO 8601 date-time, e.g. 2026-12-01T22:00:00+01:00",
                       {"field": key}) from None
    if when.tzinfo is None:
        raise ApiError(400, f"{key} needs an offset (e.g. +01:00 or Z)", {"field": key})
    return when


async def create(request: Request, who: Principal, body: Any) -> store.StoredSilence:
    """A command to the engine, answered once the silence is stored (open pages redraw then)."""
    engine = running_engine(request, {"action": "create silence"})
    matchers, start, end, comment = check(body)
    try:
        silence_id = await run_in_threadpool(engine.silence_id)
    except StoreError as exc:
        raise ApiError(503, f"the engine could not number the silence: {exc}") from None
    answer = await _applied(engine.command(CreateSilence(silence_id, matchers, start, end, who.name, comment)),
                            "silence", {"silence_id": silence_id})
    if answer.outcome is not Outcome.APPLIED:  # what check() let through and the engine's clock did not
        raise ApiError(400, answer.reason, {"field": answer.field})
    assert answer.silence is not None  # applied
    return answer.silence


async def _applied(future: Any, what: str, details: dict[str, Any]) -> SilenceAnswer:
    answer = await applied(future, what, details)
    assert isinstance(answer, SilenceAnswer)  # the answer to a silence command
    return answer


async def api_create(request: Request) -> JSONResponse:
    who = request.app.state.auth.require(request, "operator", cookies=False)
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: [[[[…]]]]
        raise ApiError(400, "the body must be JSON") from None
    made = await create(request, who, body)
    return JSONResponse(_stored(made), status_code=201)


def _stored(s: store.StoredSilence) -> dict:
    return {"id": s.id, "name": s.name, "matchers": jsonable(s.matchers), "starts_at": jsonable(s.starts_at),
            "ends_at": jsonable(s.ends_at), "created_by": s.created_by, "comment": s.comment}


async def end(request: Request, who: Principal, raw_id: str) -> store.StoredSilence:
    """A command to the engine: the silence stops holding from its next event on. 404 for no
    such silence, 409 for one that ended already (expired, or ended by someone)."""
    engine = running_engine(request, {"action": "end silence", "silence_id": raw_id})
    if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):  # a bigint, or no such silence
        raise ApiError(404, f"no ad-hoc silence has id {raw_id!r} (silences in rules/ end by a commit)",
                       {"silence_id": raw_id})
    answer = await _applied(engine.command(EndSilence(int(raw_id), who.name)), "end of the silence",
                            {"silence_id": int(raw_id)})
    if answer.outcome is Outcome.APPLIED:
        assert answer.silence is not None  # applied
        return answer.silence
    stored = await request.app.state.db.run(store.get, int(raw_id))
    if stored is None:
        raise ApiError(404, f"no ad-hoc silence has id {raw_id}", {"silence_id": int(raw_id)})
    how = f"was ended by {stored.deleted_by}" if stored.deleted_at else "expired"
    raise ApiError(409, f"silence {stored.name} has ended already: it {how} at {stored.ends_at.isoformat()}",
                   {"silence_id": stored.id, "ends_at": stored.ends_at.isoformat(), "ended_by": stored.deleted_by})


async def api_delete(request: Request) -> JSONResponse:
    who = request.app.state.auth.require(request, "operator", cookies=False)
    ended = await end(request, who, request.path_params["silence_id"])
    return JSONResponse({**_stored(ended), "ended_by": ended.deleted_by})


# ---- the page -------------------------------------------------------------------------------------

FORM_FIELDS = ("device_ip", "device_name", "site", "source_system", "category", "alert_type", "connector")


async def silences_page(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    prefill = {k: request.query_params.get(k, "") for k in FORM_FIELDS}
    field = next((k for k in FORM_FIELDS if prefill[k]), "device_ip")
    return page(request, "silences.html", {**await listing(request), "fields": FORM_FIELDS, "field": field,
                                           "value": prefill[field], "done": request.query_params.get("done"),
                                           "format_duration": format_duration, "read_only": read_only(request)},
                who=who)


async def page_create(request: Request) -> Response:
    data = await form(request)
    who = signed_in_with(request, "operator", "create a silence", "/silences")
    if isinstance(who, Response):
        return who
    field, value = data.get("field", ""), (data.get("value") or "").strip()
    if field not in FORM_FIELDS or not value:
        raise ApiError(400, f"pick a field ({', '.join(FORM_FIELDS)}) and give its value", {"field": "value"})
    match: dict[str, Any] = {field: {"cidr": value}} if field == "device_ip" and "/" in value else {field: value}
    made = await create(request, who, {"matchers": match, "duration": data.get("duration") or "2h",
                                       "comment": data.get("comment") or ""})
    return RedirectResponse(f"/silences?done=created-{made.id}", status_code=303)


async def page_end(request: Request) -> Response:
    await form(request)
    who = signed_in_with(request, "operator", "end a silence", "/silences")
    if isinstance(who, Response):
        return who
    ended = await end(request, who, request.path_params["silence_id"])
    return RedirectResponse(f"/silences?done=ended-{ended.id}", status_code=303)


ROUTES = [
    Route("/api/v1/silences", api_list, methods=["GET"]),
    Route("/api/v1/silences", api_create, methods=["POST"]),
    Route("/api/v1/silences/{silence_id}", api_delete, methods=["DELETE"]),
    Route("/silences", silences_page, methods=["GET"]),
    Route("/silences", page_create, methods=["POST"]),
    Route("/silences/{silence_id}/end", page_end, methods=["POST"]),
]
