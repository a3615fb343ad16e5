"""Microsoft Teams workflow webhook ("Post to a channel when a webhook request is received"):
a `message` whose attachment is an Adaptive Card (1.4): a coloured title, the alert's facts or
the group's list, and a button to the dashboard when its URL is known. The URL is the secret."""
from __future__ import annotations

from ...pipeline.effects import RESOLVED
from ..message import Message
from ..templates import render_message
from .base import Driver, Outbound, host_of, http_send, json_bytes

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_LISTED = 50
COLOR = {"critical": "Attention", "major": "Attention", "minor": "Warning", "warning": "Warning"}


def teams_body(msg: Message) -> dict:
    rendered = render_message(msg)
    rep = msg.views[msg.representative()]
    color = "Good" if msg.kind == RESOLVED else COLOR.get(rep["severity"], "Default")
    body: list[dict] = [{"type": "TextBlock", "text": rendered.title, "weight": "Bolder", "size": "Medium",
                         "color": color, "wrap": True}]
    actions: list[dict] = []
    if msg.action and msg.action.body_template:
        body.append({"type": "TextBlock", "text": rendered.text, "wrap": True})
    elif len(msg.views) == 1:
        facts = [("Device", rep["device"] + (f" ({rep['device_ip']})" if rep["device_ip"] and rep["device_ip"] != rep["device"] else "")),
                 ("Site", rep["site"]), ("Severity", rep["severity"]), ("Status", rep["status"]), ("Time", rep["time"]),
                 ("Message", rep["message"]), ("Rule", msg.rule)]
        body.append({"type": "FactSet", "facts": [{"title": t, "value": str(v)} for t, v in facts if v]})
    else:
        label = f" for {msg.group}" if msg.group else ""
        lines = [f"- **{v['severity'].upper()}** {v['title']}" + (f" - {v['device']}" if v["device"] and v["device"] not in v["title"] else "")
                 + f" ({v['time']})" for v in msg.views[:MAX_LISTED]]
        if len(msg.views) > MAX_LISTED:
            lines.append(f"- … and {len(msg.views) - MAX_LISTED} more")
        body.append({"type": "TextBlock", "text": f"{len(msg.views)} {'resolved ' if msg.kind == RESOLVED else ''}alerts{label} (rule {msg.rule})",
                     "wrap": True})
        body.append({"type": "TextBlock", "text": "\n".join(lines), "wrap": True})
    if len(msg.views) == 1 and rep["url"]:
        actions.append({"type": "Action.OpenUrl", "title": "View alert", "url": rep["url"]})
    elif msg.dashboard_url:
        actions.append({"type": "Action.OpenUrl", "title": "Open OpsConductor", "url": msg.dashboard_url.rstrip("/") + "/alerts"})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
            "msteams": {"width": "Full"}, "body": body}
    if actions:
        card["actions"] = actions
    return {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}]}


class TeamsDriver(Driver):
    type = "teams"

    @property
    def recipient(self) -> str:
        return host_of(self.reveal("webhook_url")) if self.settings["webhook_url"].available else "teams"

    def requests(self, msg: Message) -> list[Outbound]:
        body = teams_body(msg)
        return [Outbound(msg.alerts, body, json_bytes(body))]

    async def send(self, out: Outbound) -> str:
        response = await http_send(self, "POST", self.reveal("webhook_url"), out.data)
        return f"HTTP {response.status}"
