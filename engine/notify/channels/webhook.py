"""Generic webhook: the message as JSON (one request per message), POST or PUT, extra headers,
and an optional HMAC-SHA256 signature of the exact body bytes:
`X-OpsConductor-Signature: sha256=<hex>` keyed with `hmac_secret`; `Idempotency-Key` (and the
body's `idempotency_key`) stay the same when a message is sent again after a restart."""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

from ..message import Message
from ..templates import render_message
from .base import Driver, Outbound, http_send, json_bytes

SIGNATURE_HEADER = "X-OpsConductor-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the same on a resend after a restart (at-least-once delivery)


def idempotency_key(msg: Message) -> str | None:
    """The same for a message sent again after a restart: its outbox row id (one alert), or
    a hash of its rows' ids (a group). None for messages not from the outbox (tools)."""
    ids = sorted(i for i in (getattr(n, "outbox_id", "") for n in msg.notifications) if i)
    if not ids or len(ids) != len(msg.notifications):
        return None
    return ids[0] if len(ids) == 1 else hashlib.sha256(",".join(ids).encode()).hexdigest()[:32]


def webhook_body(msg: Message) -> dict:
    rendered = render_message(msg)
    body = {
        "version": "1", "kind": msg.kind, "rule": msg.rule, "channel": msg.channel,
        "group_key": msg.group_key or None, "group_labels": dict(msg.group_labels),
        "title": rendered.title, "body": rendered.text, "alerts": list(msg.views),
        "idempotency_key": idempotency_key(msg),
    }
    if msg.storm:
        body["storm"] = dict(msg.storm)
    return body


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookDriver(Driver):
    type = "webhook"

    @property
    def recipient(self) -> str:
        parts = urlsplit(self.mask(str(self.settings["url"])))
        return urlunsplit(parts._replace(query="", fragment="", netloc=parts.netloc.rsplit("@", 1)[-1]))

    def requests(self, msg: Message) -> list[Outbound]:
        body = webhook_body(msg)
        return [Outbound(msg.alerts, body, json_bytes(body))]

    async def send(self, out: Outbound) -> str:
        headers = {str(k): str(v) for k, v in self.settings.get("headers", {}).items()}
        if out.body.get("idempotency_key"):
            headers.setdefault(IDEMPOTENCY_HEADER, out.body["idempotency_key"])
        if "hmac_secret" in self.settings:
            headers[SIGNATURE_HEADER] = sign(self.reveal("hmac_secret"), out.data)
        response = await http_send(self, str(self.settings.get("method", "POST")), self.reveal("url"), out.data, headers)
        return f"HTTP {response.status}"
