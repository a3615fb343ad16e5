"""Inbound webhooks (POST /api/v1/events/{connector}): check the request, read the body,
and turn it into RawEvents. A pure function: the web layer and the engine call `accept`.

Order of checks: body size (max_body_bytes, default 1 MiB), then credentials (every
configured method must pass: `Authorization: Bearer <bearer_token>`, and/or the HMAC header
`sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time), then the JSON and its
shape. Credential failures raise PermissionError; a body we cannot use raises ValueError with
a message naming the field. Nothing is emitted unless the whole body is good.

Formats:
- `generic`: one JSON object or a list of them; `mapping` gives, per alert field, a dotted
  path into each object (`labels.host`, `items.0.id`). `clear_when` names a path whose value
  true / "resolved" (also "clear", "cleared", "ok", "true") makes the event a clear.
- `alertmanager`: the Prometheus Alertmanager webhook body (version 4): `alerts[]` with
  status firing/resolved, labels, annotations, startsAt/endsAt, fingerprint.

Each RawEvent's payload is {"format", "fields": {our field → value}, "item": the object}.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any, Callable, Mapping

import orjson

from ...config.bundle import ConnectorConfig
from ...config.secrets import Secret
from ...ids import new_hex
from ...model import RawEvent

DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_HMAC_HEADER = "X-Hub-Signature-256"
MAX_ITEMS = 10_000
CLEAR_VALUES = frozenset({"resolved", "clear", "cleared", "ok", "true"})
TEXT_FIELDS = ("source_alert_id", "device_ip", "device_name", "severity", "category", "alert_type", "title",
               "message", "occurred_at", "resource_key", "status")

Clock = Callable[[], datetime]


def accept(config: ConnectorConfig, body: bytes, headers: Mapping[str, str], clock: Clock) -> list[RawEvent]:
    """The events in one webhook request, or PermissionError / ValueError."""
    settings = config.settings
    limit = int(settings.get("max_body_bytes") or DEFAULT_MAX_BODY)
    if len(body) > limit:
        raise ValueError(f"{config.name}: body of {len(body)} bytes is larger than max_body_bytes ({limit})")
    check_auth(config, body, {str(k).lower(): str(v) for k, v in headers.items()})
    return read_body(config, body, clock)


def read_body(config: ConnectorConfig, body: bytes, clock: Clock) -> list[RawEvent]:
    """The events in a body already let in (size and credentials checked): JSON, then the
    connector's format and mapping. Rule tests' `webhook:` events come in here too."""
    settings = config.settings
    try:
        doc = _loads(body)
    except UnicodeDecodeError:
        raise ValueError(f"{config.name}: the body is not UTF-8 text; expected JSON") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config.name}: the body is not JSON ({exc.msg} at position {exc.pos})") from None
    except ValueError as exc:  # JSON Python cannot read: an integer of more than 4,300 digits
        raise ValueError(f"{config.name}: the body is JSON that cannot be read ({exc})") from None
    except RecursionError:
        raise ValueError(f"{config.name}: the body is JSON nested too deeply to read") from None
    if _UNSTORABLE_ESCAPE.search(body):
        problem = _unstorable(doc)
        if problem:
            raise ValueError(f"{config.name}: {problem}")
    fmt = settings.get("format") or "generic"
    if fmt == "alertmanager":
        items = alertmanager_fields(config.name, doc, str(settings.get("category_label") or "category"))
    else:
        items = generic_fields(config.name, doc, settings.get("mapping") or {})
    received = clock()
    return [RawEvent(event_id=new_hex(), connector=config.name, source_system="webhook",
                     received_at=received, source_address=None,
                     payload={"format": fmt, "fields": fields, "item": item}) for fields, item in items]


def _loads(body: bytes) -> Any:
    """orjson (several times faster), with the standard library's exact results where the
    two differ: integers beyond 64 bits (orjson makes them floats) and every error (its
    messages, and what it accepts that orjson does not: NaN, a byte order mark)."""
    if not _LONG_NUMBER.search(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return json.loads(body.decode("utf-8"))


_LONG_NUMBER = re.compile(rb"\d{19}")


# JSON escapes PostgreSQL cannot store (jsonb refuses \u0000, UTF-8 has no lone surrogates):
# searched in the raw body first, so the common body is not walked.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _unstorable(doc: object) -> str | None:
    """Why a parsed body cannot be stored, or None: a NUL or a lone surrogate in a string."""
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return "a string in the body contains \\u0000 (NUL), which cannot be stored"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "a string in the body contains a lone UTF-16 surrogate escape (\\ud800-\\udfff)"
    return None


# ---- credentials -------------------------------------------------------------------------

def _secret(config: ConnectorConfig, key: str) -> str | None:
    auth = config.settings.get("auth") or {}
    value = auth.get(key)
    if value is None:
        return None
    if not isinstance(value, Secret) or not value.available:
        # a server-side problem; say which key without revealing anything
        raise PermissionError(f"{config.name}: auth.{key} is not available on the server, so no request is accepted")
    return value.reveal()


def check_auth(config: ConnectorConfig, body: bytes, headers: Mapping[str, str]) -> None:
    """Every configured method must pass. headers: lower-case names."""
    auth = config.settings.get("auth") or {}
    token = _secret(config, "bearer_token")
    if token is not None:
        given = headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise PermissionError(f"{config.name}: missing bearer token (Authorization: Bearer …)")
        if not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise PermissionError(f"{config.name}: wrong bearer token")
    secret = _secret(config, "hmac_secret")
    if secret is not None:
        header = str(auth.get("hmac_header") or DEFAULT_HMAC_HEADER)
        given = headers.get(header.lower(), "").strip()
        if not given:
            raise PermissionError(f"{config.name}: missing signature header {header}")
        algo, _, digest = given.partition("=")
        if algo.lower() != "sha256" or not digest:
            raise PermissionError(f"{config.name}: signature header {header} must be sha256=<hex>")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(digest.strip().lower().encode(), expected.encode()):
            raise PermissionError(f"{config.name}: signature in {header} does not match the body")


# ---- generic -----------------------------------------------------------------------------

_MISSING = object()


def lookup(doc: Any, path: str) -> Any:
    """A dotted path into JSON (`a.b.0.c`); _MISSING when some step is absent."""
    node = doc
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?\d+", part) and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def generic_fields(name: str, doc: Any, mapping: Mapping[str, str]) -> list[tuple[dict, Any]]:
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise ValueError(f"{name}: $: the body is an empty list; expected an object or a list of objects")
    if len(items) > MAX_ITEMS:
        raise ValueError(f"{name}: $: {len(items)} objects in one body (at most {MAX_ITEMS})")
    out = []
    for i, item in enumerate(items):
        where = f"$[{i}]" if isinstance(doc, list) else "$"
        if not isinstance(item, Mapping):
            raise ValueError(f"{name}: {where}: expected an object, got {_kind(item)}")
        fields: dict[str, Any] = {}
        for key in TEXT_FIELDS:
            path = mapping.get(key)
            if not path:
                continue
            value = lookup(item, path)
            if value is _MISSING or value is None:
                continue
            if isinstance(value, (Mapping, list)):
                raise ValueError(f"{name}: {where}.{path} (mapping.{key}): expected a text or a number, got {_kind(value)}")
            fields[key] = value if isinstance(value, str) else json.dumps(value)
        clear = False
        if mapping.get("clear_when"):
            value = lookup(item, mapping["clear_when"])
            clear = value is True or (isinstance(value, str) and value.strip().lower() in CLEAR_VALUES)
        fields["clear"] = clear
        if not (fields.get("alert_type") or fields.get("title")):
            raise ValueError(f"{name}: {where}: no alert_type and no title found "
                             f"(mapping.alert_type={mapping.get('alert_type')!r}, mapping.title={mapping.get('title')!r}); "
                             "map at least one of them to a field of the body")
        out.append((fields, dict(item)))
    return out


# ---- Prometheus Alertmanager --------------------------------------------------------------

def alertmanager_fields(name: str, doc: Any, category_label: str = "category") -> list[tuple[dict, Any]]:
    if not isinstance(doc, Mapping):
        raise ValueError(f"{name}: $: expected the Alertmanager webhook object, got {_kind(doc)}")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError(f"{name}: $.alerts: expected a list of alerts, got {_kind(alerts)}")
    if len(alerts) > MAX_ITEMS:
        raise ValueError(f"{name}: $.alerts: {len(alerts)} alerts in one body (at most {MAX_ITEMS})")
    common = doc["commonLabels"] if isinstance(doc.get("commonLabels"), Mapping) else {}
    out = []
    for i, alert in enumerate(alerts):
        where = f"$.alerts[{i}]"
        if not isinstance(alert, Mapping):
            raise ValueError(f"{name}: {where}: expected an object, got {_kind(alert)}")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise ValueError(f"{name}: {where}.status: expected 'firing' or 'resolved', got {status!r}")
        labels = alert.get("labels")
        if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError(f"{name}: {where}.labels: expected an object of texts, got {_kind(labels)}")
        labels = {**common, **labels}
        annotations = alert.get("annotations") or {}
        if not isinstance(annotations, Mapping):
            raise ValueError(f"{name}: {where}.annotations: expected an object, got {_kind(annotations)}")
        alertname = labels.get("alertname")
        if not isinstance(alertname, str) or not alertname:
            raise ValueError(f"{name}: {where}.labels.alertname: missing")
        for key in ("startsAt", "endsAt", "fingerprint", "generatorURL"):
            if alert.get(key) is not None and not isinstance(alert.get(key), str):
                raise ValueError(f"{name}: {where}.{key}: expected a text, got {_kind(alert.get(key))}")
        fingerprint = alert.get("fingerprint") or hashlib.sha256(
            json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
        instance = labels.get("instance")
        fields = {"alert_type": alertname, "severity": labels.get("severity"), "status": status,
                  "device": strip_port(instance) if instance else None, "title": annotations.get("summary"),
                  "category": labels.get(category_label),
                  "message": annotations.get("description") or annotations.get("message"),
                  "occurred_at": alert.get("endsAt") if status == "resolved" else alert.get("startsAt"),
                  "source_alert_id": fingerprint, "resource_key": fingerprint, "clear": status == "resolved",
                  "labels": dict(labels), "generator_url": alert.get("generatorURL")}
        out.append(({k: v for k, v in fields.items() if v is not None}, dict(alert)))
    return out


def strip_port(instance: str) -> str:
    """`10.0.0.5:9100` → `10.0.0.5`, `[2001:db8::1]:9100` → `2001:db8::1`, `host:9100` → `host`."""
    text = instance.strip()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text[1:]
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host if port.isdigit() else text
    return text


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a text", bool: "true/false", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)
