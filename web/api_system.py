"""JSON API: dependencies, connectors, config (+ reload), inbound webhooks, health, metrics."""
from __future__ import annotations

import logging
from typing import Any

import orjson
import psycopg
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from opsconductor.engine.store.config_versions import ConfigVersion, get_current, get_last_attempt
from opsconductor.engine.store.connector_status import list_runtime

from . import queries, topology
from .errors import ApiError
from .queries import jsonable
from .settings import EngineView

log = logging.getLogger("opsconductor.web")


def topology_nodes(conn: psycopg.Connection) -> tuple[list[dict[str, Any]], list[topology.Node]]:
    deps = queries.dependencies(conn)
    ips = sorted({d["device_ip"] for d in deps} | {d["depends_on_ip"] for d in deps})
    return deps, topology.build(deps, queries.device_states(conn, ips))


def connectors(conn: psycopg.Connection) -> list[dict[str, Any]]:
    # The runtime columns only: connectors.config stays out of every answer.
    return [jsonable(c) for c in list_runtime(conn)]


def config_view(conn: psycopg.Connection, engine: EngineView | None) -> dict[str, Any]:
    """Running version, last attempt (from the engine when it runs) and rules with their hit
    counts: the decisions stored naming each rule (migration 013's rule_hits), so they
    survive reloads and restarts; `hits_since` is the oldest decision counted."""
    if engine is not None:
        status = engine.config_status()
        current, last, replay = status.get("current"), status.get("last_attempt"), status.get("replay")
    else:
        current, last, replay = _version(get_current(conn)), _attempt(get_last_attempt(conn)), None
    stored = conn.execute("SELECT rule, hits, first_at FROM rule_hits").fetchall()
    hits = {r: n for r, n, _ in stored}
    since = min((f for _, _, f in stored), default=None)
    rows = conn.execute("SELECT name, description, enabled, priority FROM notification_rules ORDER BY priority, name"
                        ).fetchall()
    rules = [{"name": r[0], "description": r[1], "enabled": bool(r[2]), "priority": r[3], "hits": hits.get(r[0], 0)}
             for r in rows]
    known = {r["name"] for r in rules}
    rules += [{"name": n, "description": None, "enabled": True, "priority": None, "hits": h}
              for n, h in sorted(hits.items()) if n not in known]
    return {"current": jsonable(current), "last_attempt": jsonable(last), "rules": rules,
            "hits_since": jsonable(since), "engine_running": engine is not None, "replay": jsonable(replay)}


def _version(v: ConfigVersion | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"id": v.id, "content_hash": v.content_hash, "git_commit": v.git_commit, "loaded_at": v.loaded_at,
            "files": v.files}


def _attempt(v: ConfigVersion | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"id": v.id, "outcome": v.outcome.value, "errors": list(v.errors), "at": v.loaded_at}


async def get_dependencies(request: Request) -> JSONResponse:
    request.app.state.auth.require_read(request)
    deps, nodes = await request.app.state.db.run(topology_nodes)
    return JSONResponse({"dependencies": jsonable(deps), "devices": topology.as_json(nodes)})


async def get_connectors(request: Request) -> JSONResponse:
    request.app.state.auth.require_read(request)
    return JSONResponse({"items": await request.app.state.db.run(connectors)})


async def get_config(request: Request) -> JSONResponse:
    request.app.state.auth.require_read(request)
    return JSONResponse(await request.app.state.db.run(config_view, request.app.state.engine))


async def reload_config(request: Request) -> JSONResponse:
    who = request.app.state.auth.require(request, "admin", cookies=False)
    return JSONResponse(await do_reload(request, who.name))


async def do_reload(request: Request, actor: str) -> dict[str, Any]:
    engine = _engine(request)
    log.info("config reload requested by %s", actor)
    return jsonable(await run_in_threadpool(engine.reload, actor))


BUSY_RETRY_AFTER = 5  # seconds a refused webhook sender is asked to wait


async def ingest_event(request: Request) -> Response:
    engine = _engine(request)
    connector = request.path_params["connector"]
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        result = await engine.accept_webhook(connector, body, headers)  # no thread: it awaits the journal's sync
    except KeyError:
        raise ApiError(404, f"no webhook connector is named {connector!r}", {"connector": connector}) from None
    except PermissionError as exc:
        raise ApiError(401, str(exc) or "the connector refused these credentials", {"connector": connector}) from None
    except ValueError as exc:
        raise ApiError(400, str(exc)[:500] or "the body is not what this connector accepts",
                       {"connector": connector}) from None
    except RecursionError:  # JSON nested deeper than the parser goes
        raise ApiError(400, "the body is nested too deeply to read", {"connector": connector}) from None
    except OverflowError as exc:  # back-pressure: nothing was accepted, the sender keeps the events and retries
        busy = ApiError(503, str(exc) or "the engine cannot take more events now; retry later",
                        {"connector": connector, "retry_after": BUSY_RETRY_AFTER})
        busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        raise busy from None
    # 202 only now: the events are durable (committed, or journaled and synced; docs/faults.md)
    return Response(orjson.dumps(result), status_code=202, media_type="application/json")


def _engine(request: Request) -> EngineView:
    engine = request.app.state.engine
    if engine is None:
        raise ApiError(503, "the engine is not running in this process (read-only dashboard)")
    return engine


async def healthz(request: Request) -> JSONResponse:
    """Within 1 s in every state, with the reasons when not ok (web/health.py)."""
    status, body = await request.app.state.health.check(request.app.state.engine)
    return JSONResponse(body, status_code=status)


async def metrics(request: Request) -> PlainTextResponse:
    request.app.state.auth.require_read(request)
    text = request.app.state.http_metrics.render()
    engine = request.app.state.engine
    if engine is not None:
        text += await run_in_threadpool(engine.metrics)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


# Inbound events, the one route taken thousands of times a second: create_app lists it first,
# since Starlette tries the routes in order (matching the ~30 before it was ~13% of a POST).
INTAKE_ROUTES = [Route("/api/v1/events/{connector}", ingest_event, methods=["POST"])]

ROUTES = [
    Route("/api/v1/dependencies", get_dependencies, methods=["GET"]),
    Route("/api/v1/connectors", get_connectors, methods=["GET"]),
    Route("/api/v1/config", get_config, methods=["GET"]),
    Route("/api/v1/config/reload", reload_config, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
