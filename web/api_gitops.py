"""JSON API: GitOps — POST /api/v1/sync (push webhooks) and POST /api/v1/config/rollback.

A sync is accepted with a valid signature (GitHub/Gitea X-Hub-Signature-256, GitLab
X-Gitlab-Token) or an admin bearer token; anything else gets 401 before the body is
parsed. The body size is limited by the app's BodyLimit middleware.
"""
from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .api_system import _engine
from .errors import ApiError
from .queries import jsonable
from .settings import EngineView

log = logging.getLogger("opsconductor.web")
STATUS = {"applied": 200, "unchanged": 200, "ignored": 202, "refused": 422}
NOT_CONFIGURED = "git sync is not configured on this engine: set OPSC_GIT_URL (and OPSC_SYNC_SECRET for webhooks)"


def _git_engine(request: Request) -> EngineView:
    engine = _engine(request)
    if not engine.git_enabled():
        raise ApiError(404, NOT_CONFIGURED)
    return engine


async def sync(request: Request) -> JSONResponse:
    engine = _git_engine(request)
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    if "authorization" in headers:
        actor = request.app.state.auth.require(request, "admin", cookies=False).name
    elif await run_in_threadpool(engine.verify_sync, body, headers):
        actor = "webhook"
    else:
        raise ApiError(401, "a push needs a valid X-Hub-Signature-256 (HMAC-SHA256 of the body with the sync "
                            "secret), X-Gitlab-Token, or an admin bearer token")
    force = actor != "webhook" and request.query_params.get("force", "").lower() in ("1", "true", "yes")
    try:
        result = await run_in_threadpool(engine.sync, body, force, actor)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    log.info("sync by %s: %s (%s)", actor, result.get("status"), result.get("reason"))
    return _answer(result)


async def rollback(request: Request) -> JSONResponse:
    engine = _git_engine(request)
    who = request.app.state.auth.require(request, "admin", cookies=False)
    result = await run_in_threadpool(engine.rollback, who.name)
    return _answer(result)


def _answer(result: dict[str, Any]) -> JSONResponse:
    return JSONResponse(jsonable(result), status_code=STATUS.get(str(result.get("status")), 200))


ROUTES = [
    Route("/api/v1/sync", sync, methods=["POST"]),
    Route("/api/v1/config/rollback", rollback, methods=["POST"]),
]
