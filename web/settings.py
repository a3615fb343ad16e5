"""What the web layer is given: its settings and the view of the running engine.

`opsc serve` builds WebSettings from the config and the environment and passes an
EngineView of the running engine; tests pass a small double of EngineView (it is our
own interface). Token values are Secrets: their repr is masked, and only their
sha256 is kept once the app is built (auth.TokenStore).
"""
from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal, Protocol

from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.pipeline.commands import CommandAnswer, OperatorCommand
from opsconductor.engine.pipeline.silencing import SilenceAnswer, SilenceCommand

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "admin")  # in increasing power


def role_rank(role: str) -> int:
    """viewer=1 < operator=2 < admin=3; 0 for anything else (never enough)."""
    return ROLES.index(role) + 1 if role in ROLES else 0


@dataclass(frozen=True)
class TokenSpec:
    name: str  # who: recorded in alert_history as the actor of every write
    role: Role
    token: Secret


@dataclass(frozen=True)
class WebSettings:
    admin_token: Secret | None = None  # OPSC_ADMIN_TOKEN: a bootstrap admin token
    tokens: tuple[TokenSpec, ...] = ()
    read_access: Literal["public", "viewer"] = "public"
    session_secret: bytes = field(default=b"", repr=False)  # signs session cookies and CSRF tokens
    dashboard_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = 1024 * 1024  # POST bodies above this are refused with 413
    session_hours: int = 12


class EngineView(Protocol):
    """What the running engine offers the web layer (None in read-only use)."""

    def config_status(self) -> dict: ...

    def reload(self, actor: str) -> dict: ...

    def rule_hits(self) -> dict[str, int]: ...

    def metrics(self) -> str: ...

    def health(self) -> dict: ...

    async def accept_webhook(self, connector: str, body: bytes, headers: Mapping[str, str]) -> dict: ...  # durable on return

    def git_enabled(self) -> bool: ...

    def verify_sync(self, body: bytes, headers: Mapping[str, str]) -> bool: ...

    def sync(self, body: bytes, force: bool, actor: str) -> dict: ...  # ValueError: bad push body

    def rollback(self, actor: str) -> dict: ...

    # An operator's acknowledge or resolve, or an ad-hoc silence created or ended, applied by
    # the engine (the only writer of alerts and silences): the Future's result is a CommandAnswer
    # (SilenceAnswer) once committed (engine/pipeline/commands.py, engine/pipeline/silencing.py).
    def command(self, command: OperatorCommand | SilenceCommand) -> Future[CommandAnswer | SilenceAnswer]: ...

    def silence_id(self) -> int: ...  # a new silence's number, reserved by the engine (blocks: one query)

    def check(self, what: str, name: str) -> dict: ...  # `opsc check connector|channel NAME` here: {"ok", "text"}

    def silenced(self) -> dict[str, str]: ...  # open alert id → the silence holding its notifications now

