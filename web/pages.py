"""Dashboard pages: overview, topology, connectors, config (+ the reload form)."""
from __future__ import annotations

from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import queries, topology
from .api_system import config_view, connectors, do_reload, topology_nodes
from .auth import Principal
from .queries import AlertFilter
from .render import form, page, reader, signed_in_with

URGENT = AlertFilter(status=("active", "acknowledged"), severity=("critical", "major"))


def _overview(conn: psycopg.Connection, engine: Any) -> dict[str, Any]:
    urgent, _ = queries.list_alerts(conn, URGENT, limit=12)
    return {"counts": queries.open_counts(conn), "urgent": urgent, "connectors": connectors(conn),
            "config": config_view(conn, engine)}


async def overview(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    data = await request.app.state.db.run(_overview, request.app.state.engine)
    return page(request, "overview.html", data, who=who)


async def dependencies(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    deps, nodes = await request.app.state.db.run(topology_nodes)
    suppressed = sum(1 for n in nodes if n.suppressed)
    return page(request, "dependencies.html", {"deps": deps, "svg": topology.svg(nodes) if nodes else None,
                                                "nodes": nodes, "suppressed": suppressed}, who=who)


async def connectors_page(request: Request) -> Response:
    who = reader(request)
    if not isinstance(who, Principal):
        return who
    return page(request, "connectors.html", {"items": await request.app.state.db.run(connectors)}, who=who)


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
