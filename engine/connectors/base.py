"""The connector contract: what the engine starts, stops and asks for status, and the
polling base that turns "current problems" into raise/clear events by diffing polls.

A polling connector implements `fetch(client) -> {key: item}` (every page of the vendor's
current problems, validated). The base schedules polls with jitter, diffs them, hands events
to the sink and keeps status. A failed poll raises and clears nothing.
"""
from __future__ import annotations

import asyncio
import logging
import random
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Hashable, Mapping, Protocol
from urllib.parse import urlsplit

import httpx

from ..config.bundle import ConnectorConfig
from ..errors import ConnectorError, OpscError
from ..ids import new_hex
from ..model import RawEvent
from . import http
from .http import HttpFailure, HttpPolicy, Unauthorized


class Backpressure(OpscError):
    """The engine cannot take more events now; the connector offers them again next poll."""


class EventSink(Protocol):
    def __call__(self, events: list[RawEvent]) -> object: ...  # what it returns is not used


Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


CONNECTOR_STATES = ("ok", "degraded", "failing", "disabled", "unknown")


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    status: str  # one of CONNECTOR_STATES
    error_message: str | None
    last_poll_at: datetime | None
    last_success_at: datetime | None
    alerts_received: int  # events emitted since start


class Connector(ABC):
    """One configured connector instance."""

    type: ClassVar[str]

    def __init__(self, config: ConnectorConfig, sink: EventSink, *, clock: Clock = utcnow,
                 previous_state: Mapping[str, Mapping] | None = None):
        self.config = config
        self.sink = sink
        self.clock = clock
        self.log = logging.getLogger(f"opsconductor.connectors.{config.name}")
        self._status = "disabled" if not config.enabled else "unknown"
        self._error: str | None = None
        self._last_poll_at: datetime | None = None
        self._last_success_at: datetime | None = None
        self._emitted = 0

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    def status(self) -> ConnectorStatus:
        return ConnectorStatus(self.name, self._status, self._error, self._last_poll_at,
                               self._last_success_at, self._emitted)

    def mask(self, text: str) -> str:
        return text

    def offer(self, events: list[RawEvent]) -> bool:
        """Hand events to the engine. When it refuses (Backpressure: busy), the caller keeps
        its previous diff state, so the same events are offered again on the next poll."""
        if not events:
            return True
        try:
            self.sink(events)
            return True
        except Exception as exc:  # noqa: BLE001 - refused events are offered again, never lost
            busy = isinstance(exc, Backpressure)
            self._status = "degraded" if busy else "failing"
            self._error = self.mask(f"{self.name}: {'engine busy' if busy else 'engine refused events'}, "
                                    f"{len(events)} event(s) offered again next poll ({exc})")
            self.log.warning("%s", self._error)
            return False

    def event(self, payload: Mapping[str, Any], source_address: str | None = None) -> RawEvent:
        return RawEvent(event_id=new_hex(), connector=self.name, source_system=self.type,
                        received_at=self.clock(), source_address=source_address, payload=payload)


async def poll_forever(connector: Any, sleep: Callable, not_before: Callable[[], float] = lambda: 0.0) -> None:
    """The schedule every poller shares: a random start offset, then `poll_once` every
    poll_interval ±10 %, never before `not_before()` (a Retry-After pushes it back). A poll
    that raises is logged; the loop never dies."""
    loop = asyncio.get_running_loop()
    interval = connector.config.poll_interval
    await sleep(connector.rng() * min(interval * 0.1, 5.0))
    while True:
        started = loop.time()
        try:
            await connector.poll_once()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - poll_once records its own failures
            connector.log.exception("%s: unexpected error in the poll loop", connector.name)
        delay = interval * (0.9 + 0.2 * connector.rng()) - (loop.time() - started)
        await sleep(max(delay, not_before() - loop.time(), 0.0))


class PollingConnector(Connector):
    """Polls current problems and diffs them. Subclasses implement `fetch`, and may override
    `identity` / `revision` to say when a changed item is a different alert or an update.
    Extra keywords: `transport` (e.g. httpx.ASGITransport over a fake), `sleep` and `rng`
    (backoff, jitter), `max_body_bytes`."""

    def __init__(self, config: ConnectorConfig, sink: EventSink, *, clock: Clock = utcnow,
                 previous_state: Mapping[str, Mapping] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] | None = None, rng: Callable[[], float] | None = None,
                 max_body_bytes: int | None = None):
        super().__init__(config, sink, clock=clock, previous_state=previous_state)
        self.http = HttpPolicy.from_config(config, sleep=sleep, rng=rng, max_body_bytes=max_body_bytes)
        for value in self.http.secrets:  # kept for the process: a rotated secret stays masked too
            http.register_secret(value)
        self.transport = transport
        self.rng = rng or random.random
        self.state: dict[str, dict] = {str(k): dict(v) for k, v in (previous_state or {}).items()}
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task | None = None
        self._not_before = 0.0
        self._lock = asyncio.Lock()

    # ---- what a connector type implements ----------------------------------------------

    @abstractmethod
    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        """All current problems at the source (every page), key → item. Raise ConnectorError
        (naming the field) on bad data; never return a partial result."""

    def identity(self, item: Mapping) -> Hashable:
        """What the alert *is*; when it changes for a key, the old one is cleared and the new raised."""
        return None

    def revision(self, item: Mapping) -> Hashable:
        """When only this changes, the problem is raised again with the new item (an update)."""
        return None

    async def close_session(self, client: httpx.AsyncClient) -> None:
        """Called before the client closes at stop (token connectors log out here)."""

    def has_session(self) -> bool:  # a vendor session that close_session should release
        return False

    def client_headers(self) -> dict[str, str]:
        return {}

    def secret(self, key: str) -> str:
        """The value of a secret setting, or an error naming the key and why it is unavailable."""
        value = self.config.settings.get(key)
        if value is None:
            raise self.bad(key, "not configured")
        if isinstance(value, str):
            raise self.bad(key, "must be a secret reference such as ${env:NAME}")
        if not value.available:
            raise self.bad(key, f"{value.reference}: {value.problem}")
        return value.reveal()

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if not self.config.enabled or self._task is not None:
            return
        self._client = self.new_client()
        self._task = asyncio.create_task(self._run(), name=f"connector:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping must not fail
                pass
        client, self._client = self._client, None
        if client is None and self.has_session():
            client = self.new_client()
        if client is not None:
            try:
                await self.close_session(client)
            except Exception as exc:  # noqa: BLE001 - best effort
                self.log.info("%s: closing the session failed: %s", self.name, self.mask(str(exc)))
            await client.aclose()

    def new_client(self) -> httpx.AsyncClient:
        return http.build_client(self.http, transport=self.transport, headers=self.client_headers())

    async def _run(self) -> None:
        await poll_forever(self, asyncio.sleep, lambda: self._not_before)

    # ---- one poll ----------------------------------------------------------------------

    async def poll_once(self) -> list[RawEvent]:
        """Fetch, diff against the previous poll, hand the events to the sink. Returns the
        events the sink accepted. On any failure nothing is raised or cleared."""
        async with self._lock:
            self._last_poll_at = self.clock()
            try:
                if self._client is not None:
                    current = await self.fetch(self._client)
                else:
                    async with self.new_client() as client:
                        current = await self.fetch(client)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure fails this poll only
                self._failed(exc)
                return []
            events = self.diff(current)
            if not self.offer(events):
                return []
            self.state = current
            self._emitted += len(events)
            self._status, self._error = "ok", None
            self._last_success_at = self._last_poll_at
            return events

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, ConnectorError):
            message = str(exc)
        elif isinstance(exc, OpscError):
            message = f"{self.name}: {exc}"
        else:
            message = f"{self.name}: {type(exc).__name__}: {exc}"
        message = self.mask(message)
        if isinstance(exc, HttpFailure) and exc.retry_after:
            self._not_before = asyncio.get_running_loop().time() + exc.retry_after
        self._status, self._error = "failing", message
        self.log.warning("poll failed: %s", message)
        if not isinstance(exc, OpscError):  # a bug, not bad vendor data: keep the trace, masked
            self.log.debug("%s", self.mask("".join(traceback.format_exception(exc))))

    def diff(self, current: Mapping[str, Mapping]) -> list[RawEvent]:
        events: list[RawEvent] = []
        source = urlsplit(self.http.base_url).hostname
        for key, old in self.state.items():
            new = current.get(key)
            if new is None or self.identity(new) != self.identity(old):
                events.append(self.event({"state": "clear", "key": key, "item": old}, source))
        for key, new in current.items():
            before = self.state.get(key)
            if before is None or self.identity(new) != self.identity(before) \
                    or self.revision(new) != self.revision(before):
                events.append(self.event({"state": "raise", "key": key, "item": new}, source))
        return events

    def mask(self, text: str) -> str:
        return self.http.mask(text)

    # ---- helpers for fetch -------------------------------------------------------------

    async def get_json(self, client: httpx.AsyncClient, path: str, **kw: Any) -> Any:
        return await http.request_json(client, self.http, kw.pop("method", "GET"), path, **kw)

    def bad(self, field: str, message: str) -> ConnectorError:
        return ConnectorError(self.name, self.mask(message), field=field)

    def need(self, obj: Any, key: str, kind: type | tuple[type, ...], where: str, required: bool = True) -> Any:
        return http.need(self.http, obj, key, kind, where, required)


class TokenPollingConnector(PollingConnector):
    """A polling connector that logs in for a token and logs in again once on 401
    (MCP, Milestone, Network-M2). Subclasses implement `login` (and may `logout`).
    `monotonic`: the clock a token's lifetime runs on, in seconds (tests pass a simulated one)."""

    def __init__(self, *args: Any, monotonic: Callable[[], float] = http.monotonic, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.monotonic = monotonic
        self._token: str | None = None
        self._token_expires: float | None = None

    @abstractmethod
    async def login(self, client: httpx.AsyncClient) -> tuple[str, float | None]:
        """A fresh token and its lifetime in seconds (None when unknown)."""

    async def logout(self, client: httpx.AsyncClient, token: str) -> None:
        """Release the session (servers limit sessions per user)."""

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def password_login(self, client: httpx.AsyncClient, path: str, *, extra: Mapping[str, str] | None = None,
                             form: bool = False, token_keys: tuple[str, ...] = ("access_token",),
                             lifetime_key: str = "expires_in", hint: str = "") -> tuple[str, float | None]:
        """The login most vendors share: POST username + password (JSON, or a form), read a
        token and its lifetime from the answer; a refusal names the password, not a stack trace."""
        username = self.config.settings.get("username")
        if not isinstance(username, str) or not username:
            raise self.bad("username", "not configured")
        fields = {**(extra or {}), "username": username, "password": self.secret("password")}
        what = f"POST {path}"
        try:
            reply = await self.get_json(client, path, method="POST", what=what,
                                        **({"data": fields} if form else {"json_body": fields}))
        except http.HttpFailure as exc:
            if exc.status in (400, 401, 403):
                raise self.bad("password", f"login refused (HTTP {exc.status}): check username and password"
                                           + (f", {hint}" if hint else "")) from None
            raise
        token = next((reply.get(k) for k in token_keys if isinstance(reply, Mapping) and reply.get(k)), None)
        if not isinstance(token, str) or not token:
            keys = ", ".join(sorted(reply)) if isinstance(reply, Mapping) else type(reply).__name__
            raise self.bad(token_keys[0], f"{what}: the answer has no {token_keys[0]} (keys: {keys})")
        expires = reply.get(lifetime_key)
        ok = isinstance(expires, (int, float)) and not isinstance(expires, bool) and expires > 0
        return token, float(expires) if ok else None

    def _set_token(self, token: str | None, lifetime: float | None) -> None:
        if self._token:
            self.http.secrets.difference_update(http.variants(self._token))
            http.unregister_secret(self._token)
        self._token = token
        self._token_expires = self.monotonic() + lifetime * 0.9 if token and lifetime else None
        if token:
            self.http.secrets.update(http.variants(token))
            http.register_secret(token)

    async def token(self, client: httpx.AsyncClient, fresh: bool = False) -> str:
        expired = self._token_expires is not None and self.monotonic() >= self._token_expires
        if fresh or expired or not self._token:
            self._set_token(None, None)
            self._set_token(*await self.login(client))
        if not self._token:
            raise self.bad("token", "login returned no token")
        return self._token

    def has_session(self) -> bool:
        return bool(self._token)

    async def authed_json(self, client: httpx.AsyncClient, path: str, **kw: Any) -> Any:
        """GET (or kw method) with the token; on 401 log in again and retry once."""
        token = await self.token(client)
        headers = {**kw.pop("headers", {}), **self.auth_headers(token)}
        try:
            return await self.get_json(client, path, headers=headers, **kw)
        except Unauthorized:
            headers.update(self.auth_headers(await self.token(client, fresh=True)))
            try:
                return await self.get_json(client, path, headers=headers, **kw)
            except Unauthorized as exc:
                raise self.bad("username", f"token refused again right after a fresh login ({exc}); "
                                           "check the account's API permissions") from None

    async def close_session(self, client: httpx.AsyncClient) -> None:
        token = self._token
        if token:
            try:
                await self.logout(client, token)
            finally:
                self._set_token(None, None)
