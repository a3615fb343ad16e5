"""What every channel type implements, and the HTTP call most of them share.

A driver turns a Message into one or more Outbound requests (most channels: one request for
the whole message; PagerDuty: one event per alert) and sends one request per call to `send`.
`send` returns a short detail on success and raises DeliveryError otherwise, saying whether a
retry may help (timeouts, connection errors, 5xx, 429 with its Retry-After) or not (4xx).
Retries, backoff, timeouts per attempt and the notification log are the caller's
(engine/notify/delivery.py), so every channel behaves the same way.
"""
from __future__ import annotations

import orjson
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping
from urllib.parse import urlsplit

from ...config.bundle import Channel
from ...config.durations import parse_duration
from ...config.secrets import MASK, Secret, mask_text
from ...connectors.http import parse_retry_after, register_secret, secrets_in, unregister_secret, variants
from ...errors import OpscError
from ...model import StoredAlert
from ..http import HttpClient, Reply, Timeout, TransportError
from ..message import Message

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
USER_AGENT = "OpsConductor"


class DeliveryError(OpscError):
    """One failed attempt; `retry` says whether another attempt may succeed."""

    def __init__(self, message: str, retry: bool, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.message, self.retry, self.retry_after, self.status = message, retry, retry_after, status


@dataclass(frozen=True)
class Outbound:
    """One request to a channel, covering `alerts` (one notification_log row each per attempt)."""

    alerts: tuple[StoredAlert, ...]
    body: Any  # what is sent, JSON-able (a dict, or text for email/log); logged masked
    data: Any = None  # the wire form when it differs from `body` (bytes, an EmailMessage)


class Driver:
    """One configured channel. Subclasses set `type` and implement `requests` and `send`."""

    type: ClassVar[str] = ""

    def __init__(self, channel: Channel, client: HttpClient) -> None:
        self.channel = channel
        self.name = channel.name
        self.settings: Mapping[str, Any] = channel.settings
        self.client = client
        self.timeout = parse_duration(self.settings["timeout"]) if "timeout" in self.settings else DEFAULT_TIMEOUT
        self.retries = int(self.settings.get("retries", DEFAULT_RETRIES))
        self.secrets: tuple[Secret, ...] = tuple(secrets_in(self.settings))
        self._registered = [s.reveal() for s in self.secrets if s.available]
        self._masked = _mask_values(self._registered)
        for value in self._registered:  # connectors' httpx logs request URLs (a Slack webhook URL is the secret)
            register_secret(value)

    @property
    def recipient(self) -> str:
        return self.name

    def requests(self, msg: Message) -> list[Outbound]:
        raise NotImplementedError

    async def send(self, out: Outbound) -> str:
        raise NotImplementedError

    def mask(self, text: str) -> str:
        """`text` without any secret of this channel: whole values, URL-encoded forms, and the
        path and query of secret URLs (an error page that echoes its request path)."""
        for value in self._masked:
            text = text.replace(value, MASK)
        return mask_text(text, self.secrets)

    def mask_json(self, value: Any) -> Any:
        """A JSON-able value with every secret of this channel masked."""
        if not self.secrets:
            return value
        return orjson.loads(self.mask(orjson.dumps(value, default=str).decode()))

    def reveal(self, key: str) -> str:
        value = self.settings[key]
        if isinstance(value, Secret):
            if not value.available:
                raise DeliveryError(f"{key}: {value.problem or str(value) + ' is not available'}", retry=False)
            return value.reveal()
        return str(value)

    def close(self) -> None:
        for value in self._registered:
            unregister_secret(value)
        self._registered = []


def _mask_values(values: list[str]) -> list[str]:
    out: set[str] = set()
    for value in values:
        out |= variants(value)
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(parts.path) >= 8:
                out |= variants(tail) | variants(parts.path)
    return sorted(out, key=len, reverse=True)


def host_of(url: str) -> str:
    """The host[:port] of a URL: a recipient that is safe to log when the URL is a secret."""
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or "?"


async def http_send(driver: Driver, method: str, url: str, content: bytes,
                    headers: Mapping[str, str] | None = None) -> Reply:
    """One HTTP request, classified: 2xx returns; 429 and 5xx raise a retryable DeliveryError
    (429 with its Retry-After); timeouts and connection errors are retryable; other statuses are not."""
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    try:
        response = await driver.client.request(method, url, content, all_headers, driver.timeout)
    except Timeout:
        raise DeliveryError(f"timed out after {driver.timeout:g}s", retry=True) from None
    except TransportError as exc:
        raise DeliveryError(f"connection failed: {driver.mask(str(exc)) or 'no detail'}", retry=True) from None
    status = response.status
    if 200 <= status < 300:
        return response
    snippet = driver.mask(" ".join(response.text[:200].split()))
    reason = f"HTTP {status} {response.reason}" + (f": {snippet}" if snippet else "")
    if status == 429:
        raise DeliveryError(reason, retry=True, retry_after=parse_retry_after(response.headers.get("Retry-After")),
                            status=status)
    if status >= 500:
        raise DeliveryError(reason, retry=True, retry_after=parse_retry_after(response.headers.get("Retry-After")),
                            status=status)
    if 300 <= status < 400:
        reason += " (redirects are not followed; configure the final URL)"
    raise DeliveryError(reason, retry=False, status=status)


def json_bytes(body: Any) -> bytes:
    return orjson.dumps(body, default=str)
