"""Dashboard pages: overview, topology, connectors, config (+ the reload form)."""
from __future__ import annotations

from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from . import notifications, queries, rootcause, topology
from .api_system import config_view, connectors, do_reload, topology_nodes
from .auth import Principal
from .errors import ApiError
from .page_alerts import mark_silenced
from .queries import AlertFilter
from .render import form, page, reader, signed_in_with, silenced_now

URGENT = AlertFilter(status=("active", "acknowledged"), severity=("critical", "major"))


def _overview(conn: psycopg.Connection, engine: Any, silenced: dict[str, str]) -> dict[str, Any]:
    urgent, _ = queries.list_alerts(conn, URGENT, limit=12)
    rootcause.name_roots(conn, urgent)
    causes = rootcause.root_causes(conn)
    mark_silenced([*urgent, *(c["root"] for c in causes)], silenced)
    return {"counts": rootcause.counts(conn, silenced), "urgent": urgent, "causes": causes,
            "trouble": notifications.troubled(conn), "connectors": connectors(conn),
            "config": config_view(conn, engine)}


async def overview(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    data = await request.app.state.db.run(_overview, request.app.state.engine, silenced_now(request))
    return page(request, "overview.html", data, who=who)


async def dependencies(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    deps, nodes = await request.app.state.db.run(topology_nodes)
    suppressed = sum(1 for n in nodes if n.suppressed)
    return page(request, "dependencies.html", {"deps": deps, "svg": topology.svg(nodes) if nodes else None,
                                                "nodes": nodes, "suppressed": suppressed,
                                                "paths": topology.paths_text(nodes)}, who=who)


async def connectors_page(request: Request, check: dict | None = None) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    db, engine = request.app.state.db, request.app.state.engine
    configured = [c["name"] for c in (engine.config_status().get("channels") or [])] if engine is not None else []
    return page(request, "connectors.html", {"items": await db.run(connectors),
                                             "channels": await db.run(notifications.by_channel),
                                             "configured_channels": configured, "check": check,
                                             "can_check": engine is not None}, who=who)


async def check_form(request: Request) -> Response:
    """The admin's Check buttons: `opsc check connector|channel NAME`, answered in the page."""
    await form(request)
    what, name = request.path_params["what"], request.path_params["name"]
    if what not in ("connector", "channel"):
        raise ApiError(404, "no such page or resource")
    who = signed_in_with(request, "admin", f"check a {what}", "/connectors")
    if isinstance(who, Response):
        return who
    engine = request.app.state.engine
    if engine is None:
        raise ApiError(503, "checks run in the engine, and this process has none", code="unavailable")
    result = await run_in_threadpool(engine.check, what, name)
    check = {"what": what, "name": name, **result}
    if request.query_params.get("from") == "config":  # answered in the page the button is on
        return await config_page(request, check=check)
    return await connectors_page(request, check=check)


async def config_page(request: Request, check: dict | None = None) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    engine = request.app.state.engine
    data = await request.app.state.db.run(config_view, engine)
    top = max((r["hits"] for r in data["rules"]), default=0)
    done = request.query_params.get("reloaded")
    channels = (engine.config_status().get("channels") or []) if engine is not None else []
    return page(request, "config.html", {**data, "top_hits": top, "reloaded": done, "check": check,
                                         "configured_channels": [c["name"] for c in channels],
                                         "can_check": engine is not None}, who=who)


async def config_reload(request: Request) -> Response:
    await form(request)
    who = signed_in_with(request, "admin", "reload the config", "/config")
    if isinstance(who, Response):
        return who
    result = await do_reload(request, who.name)
    outcome = str(result.get("outcome", "done"))
    return RedirectResponse(f"/config?reloaded={outcome}", status_code=303)


ROUTES = [
    Route("/", overview, methods=["GET"]),
    Route("/dependencies", dependencies, methods=["GET"]),
    Route("/connectors", connectors_page, methods=["GET"]),
    Route("/config", config_page, methods=["GET"]),
    Route("/config/reload", config_reload, methods=["POST"]),
    Route("/check/{what}/{name}", check_form, methods=["POST"]),
]
