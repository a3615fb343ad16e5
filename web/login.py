"""/login and /logout: a token in, a signed session cookie out."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .render import form, page

log = logging.getLogger("opsconductor.web")


def _next(target: str | None) -> str:
    # Only paths on this site: no scheme, no //host, no backslash tricks.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_page(request: Request) -> Response:
    return page(request, "login.html", {"next": _next(request.query_params.get("next")), "error": None})


async def login(request: Request) -> Response:
    data = await form(request)
    target = _next(data.get("next"))
    response = RedirectResponse(target, status_code=303)
    who = request.app.state.auth.login(response, (data.get("token") or "").strip())
    if who is None:
        log.warning("failed dashboard login from %s", request.client.host if request.client else "?")
        return page(request, "login.html", {"next": target, "error": "That token is not known."}, status_code=401)
    log.info("dashboard login: %s (%s)", who.name, who.role)
    return response


async def logout(request: Request) -> Response:
    await form(request)
    response = RedirectResponse("/", status_code=303)
    request.app.state.auth.logout(response)
    return response


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
