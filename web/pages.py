"""Dashboard pages: overview, topology, connectors, config (+ the reload form)."""
from __future__ import annotations

from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import notifications, queries, rootcause, topology
from .api_system import config_view, connectors, do_reload, topology_nodes
from .auth import Principal
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


async def connectors_page(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    db = request.app.state.db
    return page(request, "connectors.html", {"items": await db.run(connectors),
                                             "channels": await db.run(notifications.by_channel)}, who=who)


async def config_page(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    data = await request.app.state.db.run(config_view, request.app.state.engine)
    top = max((r["hits"] for r in data["rules"]), default=0)
    done = request.query_params.get("reloaded")
    return page(request, "config.html", {**data, "top_hits": top, "reloaded": done}, who=who)


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
]
