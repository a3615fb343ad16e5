"""The HTTP side every HTTP connector shares: one client, bounded retries, bounded bodies,
JSON that is checked, paging, and errors that never carry a secret.

A connector builds an `HttpPolicy` from its config (`HttpPolicy.from_config`), a client
with `build_client`, and calls `request_json` for each vendor call. Failures raise
`ConnectorError` subclasses whose text is masked with the connector's secrets.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import quote, quote_plus

import httpx

from ..config.bundle import ConnectorConfig
from ..config.secrets import MASK, Secret
from ..errors import ConnectorError

DEFAULT_MAX_BODY = 32 * 1024 * 1024  # UISP /devices on a large network runs to several MiB
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 1000  # a server that ignores the paging parameters must not keep a poll busy forever


class HttpFailure(ConnectorError):
    """One vendor request failed (after its retries). `status` is the HTTP status, if any."""

    def __init__(self, connector: str, message: str, field: str | None = None, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(connector, message, field)
        self.status = status
        self.retry_after = retry_after


class Unauthorized(HttpFailure):
    """HTTP 401 (or 403): credentials refused; token connectors log in again once."""


# ---- secret masking for log records ------------------------------------------------------

class _Redactor(logging.Filter):
    """Masks registered secret values in records of the HTTP libraries (httpx logs full URLs,
    and PRTG takes its API token in the query string)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.values:
            text = record.getMessage()
            masked = redact(text, self.values)
            if masked != text:
                record.msg, record.args = masked, ()
        return True


_REDACTOR = _Redactor()
for _name in ("httpx", "httpcore", "httpcore.http11", "httpcore.connection", "opsconductor.connectors"):
    logging.getLogger(_name).addFilter(_REDACTOR)


def variants(value: str) -> set[str]:
    """A secret as it may appear in text: as is, and URL-encoded (query strings, logged URLs)."""
    return {v for v in (value, quote(value, safe=""), quote_plus(value)) if v and len(v) >= 3}


def register_secret(value: str) -> None:
    """Mask `value` in every log line of the HTTP libraries until `unregister_secret`."""
    for v in variants(value):
        _REDACTOR.values[v] = _REDACTOR.values.get(v, 0) + 1


def unregister_secret(value: str) -> None:
    for v in variants(value):
        count = _REDACTOR.values.get(v, 0) - 1
        if count > 0:
            _REDACTOR.values[v] = count
        else:
            _REDACTOR.values.pop(v, None)


def redact(text: str, values) -> str:
    for value in sorted(values, key=len, reverse=True):
        if value and len(value) >= 3:
            text = text.replace(value, MASK)
    return text


# ---- policy and client --------------------------------------------------------------------

@dataclass
class HttpPolicy:
    """How one connector talks HTTP. `secrets` are plain values to mask in every error text;
    the connector adds runtime tokens to it."""

    connector: str
    base_url: str
    timeout: float = 10.0
    retries: int = 3
    verify: bool | str = True
    max_body_bytes: int = DEFAULT_MAX_BODY
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 60.0
    secrets: set[str] = field(default_factory=set)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Callable[[], float] = random.random

    @classmethod
    def from_config(cls, config: ConnectorConfig, **overrides: Any) -> "HttpPolicy":
        settings = config.settings
        url = settings.get("url")
        if not isinstance(url, str) or not url:
            raise ConnectorError(config.name, "no url configured", field="url")
        tls = settings.get("tls") or {}
        verify: bool | str = bool(tls.get("verify", True))
        if verify and tls.get("ca_bundle"):
            verify = str(tls["ca_bundle"])
        values = {v for s in secrets_in(settings) if s.available for v in variants(s.reveal())}
        policy = cls(connector=config.name, base_url=url.rstrip("/"), timeout=config.timeout,
                     retries=config.retries, verify=verify, secrets=values)
        for key, value in overrides.items():
            if value is not None:
                setattr(policy, key, value)
        return policy

    def mask(self, text: str) -> str:
        return redact(text, self.secrets)

    def fail(self, message: str, field: str | None = None, cls: type[HttpFailure] = HttpFailure, **kw: Any) -> HttpFailure:
        return cls(self.connector, self.mask(message), field=field, **kw)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random (attempt counts from 0)."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return delay / 2 + self.rng() * delay / 2


def secrets_in(value: Any) -> list[Secret]:
    """Every Secret inside a (frozen) settings structure."""
    if isinstance(value, Secret):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in secrets_in(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in secrets_in(v)]
    return []


def build_client(policy: HttpPolicy, *, transport: httpx.AsyncBaseTransport | None = None,
                 headers: Mapping[str, str] | None = None) -> httpx.AsyncClient:
    """An AsyncClient for one connector: its timeout, TLS verification (or CA bundle) and the
    proxies of the environment (HTTPS_PROXY, NO_PROXY…, through httpx's trust_env)."""
    verify: bool | ssl.SSLContext = policy.verify if isinstance(policy.verify, bool) else _ca_context(policy)
    return httpx.AsyncClient(
        base_url=policy.base_url, timeout=httpx.Timeout(policy.timeout), verify=verify, trust_env=True,
        headers={"Accept": "application/json", "User-Agent": "OpsConductor", **(headers or {})},
        transport=transport, follow_redirects=False)


def _ca_context(policy: HttpPolicy) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(policy.verify))
    except (OSError, ssl.SSLError) as exc:
        raise policy.fail(f"cannot load CA bundle {policy.verify}: {exc}", field="tls.ca_bundle") from None


# ---- requests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    path: str


async def request(client: httpx.AsyncClient, policy: HttpPolicy, method: str, path: str, *,
                  params: Any = None, json_body: Any = None, data: Any = None,
                  headers: Mapping[str, str] | None = None, what: str | None = None) -> Reply:
    """One call with bounded retries on network errors, timeouts, 5xx and 429 (Retry-After
    honoured up to `retry_after_max`). Any other non-2xx fails at once; 401/403 raise Unauthorized."""
    what = what or f"{method} {path}"
    attempt = 0
    while True:
        try:
            reply = await _send(client, policy, method, path, params, json_body, data, headers, what)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            reason = _describe_transport(exc, policy)
            if attempt >= policy.retries:
                raise policy.fail(f"{what}: {reason}" + _after(attempt)) from None
            await policy.sleep(policy.backoff(attempt))
            attempt += 1
            continue
        if 200 <= reply.status < 300:
            return reply
        retry_after = parse_retry_after(reply.headers.get("retry-after"))
        if reply.status in (401, 403):
            raise policy.fail(f"{what}: HTTP {reply.status}: credentials refused{_snippet(reply, policy)}",
                              cls=Unauthorized, status=reply.status)
        if 300 <= reply.status < 400:
            raise policy.fail(f"{what}: HTTP {reply.status}: redirected to {reply.headers.get('location', '?')!r} "
                              "(a login page? check the url and the credentials)", status=reply.status)
        if reply.status not in RETRY_STATUSES:
            raise policy.fail(f"{what}: HTTP {reply.status}{_snippet(reply, policy)}", status=reply.status)
        if retry_after is not None and retry_after > policy.retry_after_max:
            raise policy.fail(f"{what}: HTTP {reply.status}: server asks to retry after {retry_after:.0f} s",
                              status=reply.status, retry_after=retry_after)
        if attempt >= policy.retries:
            raise policy.fail(f"{what}: HTTP {reply.status}{_snippet(reply, policy)}" + _after(attempt),
                              status=reply.status, retry_after=retry_after)
        await policy.sleep(retry_after if retry_after is not None else policy.backoff(attempt))
        attempt += 1


def _after(attempt: int) -> str:
    return f" (after {attempt + 1} attempts)" if attempt else ""


async def _send(client, policy, method, path, params, json_body, data, headers, what) -> Reply:
    async with client.stream(method, path, params=params, json=json_body, data=data, headers=headers) as resp:
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > policy.max_body_bytes:
            raise policy.fail(f"{what}: response of {int(declared)} bytes refused "
                              f"(limit {policy.max_body_bytes} bytes)", status=resp.status_code)
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > policy.max_body_bytes:
                raise policy.fail(f"{what}: response larger than {policy.max_body_bytes} bytes refused",
                                  status=resp.status_code)
            chunks.append(chunk)
        return Reply(resp.status_code, resp.headers, b"".join(chunks), path)


def _describe_transport(exc: Exception, policy: HttpPolicy) -> str:
    if isinstance(exc, httpx.TimeoutException):
        kind = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read", httpx.WriteTimeout: "write",
                httpx.PoolTimeout: "pool"}.get(type(exc), "request")
        return f"no answer within {policy.timeout:g} s ({kind} timeout)"
    detail = str(exc) or type(exc).__name__
    return f"network error: {detail}"


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _snippet(reply: Reply, policy: HttpPolicy, limit: int = 120) -> str:
    text = reply.body[:2000].decode("utf-8", "replace")
    if _looks_html(reply, text):
        title = _html_title(text)
        return f" (an HTML page{': ' + repr(policy.mask(title)[:limit]) if title else ''})"
    text = " ".join(text.split())
    return f": {policy.mask(text)[:limit]!r}" if text else ""


def _looks_html(reply: Reply, text: str) -> bool:
    ctype = reply.headers.get("content-type", "").lower()
    head = text.lstrip()[:15].lower()
    return "html" in ctype or head.startswith(("<!doctype", "<html"))


def _html_title(text: str) -> str:
    low = text.lower()
    start = low.find("<title>")
    end = low.find("</title>", start)
    return " ".join(text[start + 7:end].split()) if start >= 0 and end > start else ""


def parse_json(reply: Reply, policy: HttpPolicy, what: str | None = None) -> Any:
    """The body as JSON, or a clear error saying what came instead (HTML page, text, nothing)."""
    what = what or reply.path
    text = reply.body.decode("utf-8", "replace")
    if _looks_html(reply, text[:2000]):
        raise policy.fail(f"{what}: expected JSON, got an HTML page (HTTP {reply.status}"
                          f"{', content-type ' + reply.headers.get('content-type') if reply.headers.get('content-type') else ''})"
                          f"{_snippet(reply, policy)}; is the url pointing at the API?")
    if not text.strip():
        raise policy.fail(f"{what}: expected JSON, got an empty body (HTTP {reply.status})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise policy.fail(f"{what}: expected JSON, got invalid JSON ({exc.msg} at position {exc.pos})"
                          f"{_snippet(reply, policy)}") from None
    except ValueError as exc:  # JSON Python cannot read: an integer of more than 4,300 digits
        raise policy.fail(f"{what}: got JSON that cannot be read ({exc}){_snippet(reply, policy)}") from None


async def request_json(client: httpx.AsyncClient, policy: HttpPolicy, method: str, path: str, **kw: Any) -> Any:
    reply = await request(client, policy, method, path, **kw)
    return parse_json(reply, policy, kw.get("what"))


def need(policy: HttpPolicy, obj: Any, key: str, kind: type | tuple[type, ...], where: str,
         required: bool = True) -> Any:
    """obj[key] checked against `kind` (int also accepts digit strings; bool is never an int);
    a missing or wrongly typed value is an error naming the field `where.key`."""
    if not isinstance(obj, Mapping):
        raise policy.fail(f"expected an object, got {_type_name(obj)}", field=where)
    value = obj.get(key)
    if value is None:
        if required:
            raise policy.fail("missing", field=f"{where}.{key}")
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if int in kinds and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        raise policy.fail(f"expected {names}, got {_type_name(value)} {str(value)[:40]!r}", field=f"{where}.{key}")
    return value


_TYPE_NAMES = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
               dict: "an object", type(None): "null"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


# ---- paging -------------------------------------------------------------------------------

PageFetch = Callable[[Any], Awaitable[tuple[list, Any]]]


async def collect_pages(policy: HttpPolicy, first: Any, fetch_page: PageFetch, max_pages: int = MAX_PAGES) -> list:
    """Follow pages to the end. `fetch_page(cursor)` returns (items, next_cursor or None); the
    cursor is whatever the style needs: an offset (PRTG start/count, MCP offset/pageSize), a page
    number (UISP page/count, Milestone page/size) or a URL (NCM meta.next)."""
    items: list = []
    cursor, pages = first, 0
    while cursor is not None:
        if pages >= max_pages:
            raise policy.fail(f"paging did not end after {max_pages} pages; the server may ignore the paging parameters")
        page, cursor = await fetch_page(cursor)
        items.extend(page)
        pages += 1
    return items


def next_offset(offset: int, page_len: int, page_size: int, total: int | None) -> int | None:
    """Offset styles: the next offset, or None at the end (total reached, or a short page)."""
    offset += page_len
    if page_len == 0 or (total is not None and offset >= total) or (total is None and page_len < page_size):
        return None
    return offset


def next_page(page: int, page_len: int, page_size: int, total: int | None, first_page: int = 1) -> int | None:
    """Page-number styles: the next page number, or None at the end."""
    seen = (page - first_page + 1) * page_size
    if page_len == 0 or page_len < page_size or (total is not None and seen >= total):
        return None
    return page + 1


def monotonic() -> float:
    return time.monotonic()
