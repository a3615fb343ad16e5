"""Who is asking, and may they: bearer tokens, the dashboard session, CSRF.

Tokens: only sha256(token) is kept in memory; a presented token is hashed and compared
with every known hash by hmac.compare_digest (no early exit), so timing tells nothing
about which prefix matched. Roles are ordered viewer < operator < admin.

The dashboard logs in with a token at /login and then carries a session cookie:
base64url(JSON) "." HMAC-SHA256(session_secret), HttpOnly, SameSite=Strict (Secure
when the dashboard URL is https). The session names the token (by name and a tag of
its hash), so removing or changing a token ends its sessions at the next request.

CSRF: a random nonce in an HttpOnly SameSite=Strict cookie (opsc_csrf); every form
carries HMAC(session_secret, nonce) and every form POST checks it. The JSON API's
writes accept bearer tokens only (never the cookie), so they need no CSRF token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from opsconductor.engine.store.alerts import Actor

from .errors import ApiError
from .settings import WebSettings, role_rank

SESSION_COOKIE = "opsc_session"
CSRF_COOKIE = "opsc_csrf"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # "token" | "session" | "anonymous"

    @property
    def actor(self) -> Actor:
        return Actor(user_id=f"token:{self.name}", user_name=self.name)

    def can(self, role: str) -> bool:
        return role_rank(self.role) >= role_rank(role)


ANONYMOUS = Principal("anonymous", "", "anonymous")


@dataclass(frozen=True)
class _Known:
    name: str
    role: str
    digest: bytes  # sha256 of the token


class TokenStore:
    def __init__(self, settings: WebSettings):
        known: list[_Known] = []
        if settings.admin_token is not None and settings.admin_token.available and settings.admin_token.reveal():
            known.append(_Known("admin (OPSC_ADMIN_TOKEN)", "admin", _sha(settings.admin_token.reveal())))
        for spec in settings.tokens:
            if spec.token.available and spec.token.reveal() and role_rank(spec.role):
                known.append(_Known(spec.name, spec.role, _sha(spec.token.reveal())))
        self._known = tuple(known)

    def __len__(self) -> int:
        return len(self._known)

    def lookup(self, token: str) -> _Known | None:
        digest = _sha(token)
        found = None
        for k in self._known:  # no early exit: the time does not depend on which one matched
            if hmac.compare_digest(digest, k.digest):
                found = k
        return found

    def by_tag(self, name: str, tag: str) -> _Known | None:
        found = None
        for k in self._known:
            if k.name == name and same(_tag(k.digest), tag):
                found = k
        return found


def same(a: str, b: str) -> bool:
    """Constant-time equality of two strings from anywhere: hmac.compare_digest raises TypeError on
    str with non-ASCII characters (a cookie or form field may hold any), so bytes are compared."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _sha(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _tag(digest: bytes) -> str:
    return hashlib.sha256(b"session-tag:" + digest).hexdigest()[:16]


class Auth:
    """Everything the endpoints ask about access; one per app."""

    def __init__(self, settings: WebSettings):
        self.settings = settings
        self.tokens = TokenStore(settings)
        self._secret = settings.session_secret or secrets.token_bytes(32)
        self.secure_cookies = settings.dashboard_url.lower().startswith("https://")

    # --- who -------------------------------------------------------------------------------
    def bearer(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "the Authorization header must be 'Bearer <token>'")
        known = self.tokens.lookup(value.strip())
        if known is None:
            raise ApiError(401, "unknown token")
        return Principal(known.name, known.role, "token")

    def session(self, request: Request) -> Principal | None:
        data = self._unsign(request.cookies.get(SESSION_COOKIE, ""))
        if not data or data.get("exp", 0) < time.time():
            return None
        known = self.tokens.by_tag(str(data.get("n", "")), str(data.get("t", "")))
        return None if known is None else Principal(known.name, known.role, "session")

    def principal(self, request: Request, *, cookies: bool = True) -> Principal:
        return self.bearer(request) or (self.session(request) if cookies else None) or ANONYMOUS

    # --- may they --------------------------------------------------------------------------
    def require(self, request: Request, role: str, *, cookies: bool = True) -> Principal:
        """The caller, if their role is at least `role`; else 401 (nobody) or 403 (too weak)."""
        who = self.principal(request, cookies=cookies)
        if who is ANONYMOUS:
            raise _unauthorized(role)
        if not who.can(role):
            raise ApiError(403, f"this needs the {role} role; {who.name} has {who.role}",
                           {"required_role": role, "role": who.role})
        return who

    def require_read(self, request: Request) -> Principal:
        if self.settings.read_access == "public":
            return self.principal(request)
        return self.require(request, "viewer")

    # --- the session -----------------------------------------------------------------------
    def login(self, response: Response, token: str) -> Principal | None:
        known = self.tokens.lookup(token)
        if known is None:
            return None
        exp = int(time.time()) + self.settings.session_hours * 3600
        value = self._sign({"n": known.name, "t": _tag(known.digest), "exp": exp})
        response.set_cookie(SESSION_COOKIE, value, max_age=self.settings.session_hours * 3600, path="/",
                            httponly=True, samesite="strict", secure=self.secure_cookies)
        return Principal(known.name, known.role, "session")

    def logout(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=self.secure_cookies)

    # --- CSRF ------------------------------------------------------------------------------
    def csrf_nonce(self, request: Request) -> tuple[str, bool]:
        """The request's CSRF nonce and whether it is new (then set_csrf_cookie must follow)."""
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if len(nonce) == 43 and all(c.isalnum() or c in "-_" for c in nonce):
            return nonce, False
        return secrets.token_urlsafe(32), True

    def csrf_token(self, nonce: str) -> str:
        return hmac.new(self._secret, b"csrf:" + nonce.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def set_csrf_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(CSRF_COOKIE, nonce, path="/", httponly=True, samesite="strict",
                            secure=self.secure_cookies)

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not nonce or not submitted or not same(self.csrf_token(nonce), submitted):
            raise ApiError(403, "the form's CSRF token is missing or wrong; reload the page and try again",
                           {"reason": "csrf"})

    # --- signing ---------------------------------------------------------------------------
    def _sign(self, data: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
        return body + "." + hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()

    def _unsign(self, value: str) -> dict | None:
        body, _, mac = value.rpartition(".")
        if not body or not same(hmac.new(self._secret, body.encode("utf-8", "surrogatepass"), hashlib.sha256
                                         ).hexdigest(), mac):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("exp", 0), (int, float)) else None


def _unauthorized(role: str) -> ApiError:
    err = ApiError(401, f"this needs a token with the {role} role: send 'Authorization: Bearer <token>'",
                   {"required_role": role})
    err.headers["WWW-Authenticate"] = 'Bearer realm="opsconductor"'
    return err
