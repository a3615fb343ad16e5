"""The web application: create_app() wires routes, middleware and error handlers.

    app = create_app(database_url=url, engine=engine_view, settings=WebSettings(...))

`opsc serve` runs it with uvicorn next to the engine; tests drive it in-process.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from . import api_alerts, api_gitops, api_system, login, openapi, page_alerts, pages, silences, sse
from .auth import Auth
from .db import Db
from .error_handlers import api_error_handler, http_error_handler, internal_error_handler
from .errors import ApiError
from .health import HealthProbe
from .live import LiveHub
from .metrics import HttpMetrics
from .known_params import KnownParams
from .middleware import BodyLimit, CatchAll, Metrics, QueryGuard, SecurityHeaders
from .render import HERE, templates
from .settings import EngineView, TokenSpec, WebSettings

__all__ = ["create_app", "EngineView", "TokenSpec", "WebSettings"]


def create_app(*, database_url: str, engine: EngineView | None = None, settings: WebSettings) -> Starlette:
    db = Db(database_url)
    health = HealthProbe(database_url)
    http_metrics = HttpMetrics()
    routes = [
        *api_system.INTAKE_ROUTES,
        *pages.ROUTES, *page_alerts.ROUTES, *login.ROUTES,
        *api_alerts.ROUTES, *silences.ROUTES, *api_system.ROUTES, *api_gitops.ROUTES, *sse.ROUTES, *openapi.ROUTES,
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await app.state.live.stop()
            db.close()
            health.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(Metrics, metrics=http_metrics, routes=lambda: routes),
            Middleware(CatchAll),
            Middleware(QueryGuard),
            Middleware(KnownParams),
            Middleware(BodyLimit, limit=settings.max_body_bytes),
        ],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler,
                            Exception: internal_error_handler},
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.health = health
    app.state.live = LiveHub(db)
    app.state.engine = engine
    app.state.settings = settings
    app.state.auth = Auth(settings)
    app.state.templates = templates()
    app.state.http_metrics = http_metrics
    return app
