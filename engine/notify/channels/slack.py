"""Slack incoming webhook: `text` (the title, for notifications and old clients) and Block Kit
blocks: a header, the body as mrkdwn (values escaped), and a context line. The webhook URL is
the secret; it is never logged (the recipient is its host)."""
from __future__ import annotations

from ..message import Message
from ..templates import BODY_SLACK, render_message, slack_escape
from .base import Driver, Outbound, host_of, http_send, json_bytes

HEADER_MAX = 150  # Slack's limit for a header block
SECTION_MAX = 3000  # and for a section's text


def slack_body(msg: Message) -> dict:
    rendered = render_message(msg, BODY_SLACK, escape=slack_escape)
    text = rendered.text
    if len(text) > SECTION_MAX:
        text = text[:SECTION_MAX - 40].rsplit("\n", 1)[0] + "\n… (truncated; see OpsConductor)"
    alerts = len(msg.notifications)
    return {
        "text": rendered.title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(rendered.title, HEADER_MAX), "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(
                f"OpsConductor · rule {msg.rule} · {alerts} alert{'s' if alerts != 1 else ''} · {msg.kind}")}]},
        ],
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class SlackDriver(Driver):
    type = "slack"

    @property
    def recipient(self) -> str:
        return host_of(self.reveal("webhook_url")) if self.settings["webhook_url"].available else "slack"

    def requests(self, msg: Message) -> list[Outbound]:
        body = slack_body(msg)
        return [Outbound(msg.alerts, body, json_bytes(body))]

    async def send(self, out: Outbound) -> str:
        response = await http_send(self, "POST", self.reveal("webhook_url"), out.data)
        return f"HTTP {response.status}"
