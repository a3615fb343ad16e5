"""Shared by the dashboard pages: templates, filters, the page context, form parsing."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from .auth import ANONYMOUS, Principal
from .errors import ApiError

HERE = Path(__file__).resolve().parent
SEVERITIES = ("critical", "major", "minor", "warning", "info", "clear")


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(ago=ago, ts=ts, short=short)
    t.env.globals.update(SEVERITIES=SEVERITIES, urlencode=urlencode)
    return t


def ago(value: Any) -> str:
    when = _dt(value)
    if when is None:
        return "—"
    seconds = int((datetime.now(timezone.utc) - when).total_seconds())
    ahead = seconds < -5  # a silence's end, an upcoming start
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size or size == 1:
            n = seconds // size
            return f"in {n}{unit}" if ahead else f"{n}{unit} ago"
    return "just now"


def ts(value: Any) -> str:
    when = _dt(value)
    return "—" if when is None else when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(value: Any, n: int = 12) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= n else text[:n]


def _dt(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def reader(request: Request) -> Principal | RedirectResponse:
    """The page's viewer, or a redirect to /login when reading needs a login."""
    auth = request.app.state.auth
    who = auth.session(request) or ANONYMOUS
    if auth.settings.read_access != "public" and not who.can("viewer"):
        return login_redirect(request)
    return who


def login_redirect(request: Request, target: str | None = None) -> RedirectResponse:
    if target is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def signed_in_with(request: Request, role: str, doing: str, back_to: str) -> Principal | Response:
    """Who posts a page's form: the signed-in user if their role may `doing`; a redirect to
    the login page (then back to `back_to`) when nobody is signed in; 403 otherwise."""
    who = request.app.state.auth.session(request)
    if who is None:
        return login_redirect(request, back_to)
    if not who.can(role):
        raise ApiError(403, f"to {doing} you need the {role} role; {who.name} has {who.role}",
                       {"required_role": role, "role": who.role})
    return who


def page(request: Request, name: str, context: dict[str, Any], *, who: Principal | None = None,
         status_code: int = 200) -> Response:
    auth = request.app.state.auth
    nonce, fresh = auth.csrf_nonce(request)
    ctx = {"who": who or auth.session(request) or ANONYMOUS, "csrf": auth.csrf_token(nonce),
           "read_access": auth.settings.read_access, "path": request.url.path, **context}
    response = request.app.state.templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if fresh:
        auth.set_csrf_cookie(response, nonce)
    return response


async def form(request: Request, *, lists: tuple[str, ...] = (), max_fields: int = 20) -> dict[str, Any]:
    """A urlencoded form (the dashboard's only kind), its CSRF token already checked.
    Keys in `lists` (ticked checkboxes) keep every value, as a list."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise ApiError(400, "forms must be sent as application/x-www-form-urlencoded")
    try:
        parsed = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the form could not be read") from None
    data: dict[str, Any] = {k: v if k in lists else v[0] for k, v in parsed.items()}
    request.app.state.auth.check_csrf(request, data.get("csrf"))
    return data


def silenced_now(request: Request) -> dict[str, str]:
    """Open alerts whose notifications a silence holds now: alert id → the silence's name
    (the engine knows; without one, nothing is known to be silenced)."""
    engine = request.app.state.engine
    return {} if engine is None else dict(engine.silenced())


def multi(request: Request) -> dict[str, str]:
    """Query parameters with repeated keys (checkbox groups) joined by commas."""
    out: dict[str, str] = {}
    for key in request.query_params.keys():
        out[key] = ",".join(v for v in request.query_params.getlist(key) if v)
    return out
