"""PagerDuty Events API v2: one event per alert (PagerDuty groups incidents itself), `trigger`
for firing, `acknowledge` when an operator acknowledged the alert in OpsConductor, and
`resolve` for resolved (and for suppressed: the root cause's incident carries it now);
`dedup_key` = the alert's fingerprint so they reach the incident the trigger opened. The
routing key is the secret."""
from __future__ import annotations

from typing import Final, Literal, Mapping

from ...pipeline.effects import (ACKNOWLEDGED, ESCALATED, FIRING, RELEASED, REPEAT, RESOLVED, SUPPRESSED,
                                 NotificationKind)
from ..message import Message
from ..templates import render_message
from .base import Driver, Outbound, host_of, http_send, json_bytes

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "major": "error", "minor": "warning", "warning": "warning",
            "info": "info", "clear": "info"}
SUMMARY_MAX = 1024
# The Events API's event_action of each notification kind, every kind named (a test holds
# it to effects.KINDS): suppressed resolves, the root cause's incident carries it now; a
# repeat or a release triggers again, PagerDuty folds it into the open incident by dedup_key.
EventAction = Literal["trigger", "acknowledge", "resolve"]
ACTIONS: Final[Mapping[NotificationKind, EventAction]] = {
    FIRING: "trigger", REPEAT: "trigger", ESCALATED: "trigger", RELEASED: "trigger",
    RESOLVED: "resolve", SUPPRESSED: "resolve", ACKNOWLEDGED: "acknowledge"}


def pagerduty_event(msg: Message, routing_key: str) -> dict:
    """The event for a single-alert message."""
    view = msg.views[0]
    action = ACTIONS[msg.kind]
    event = {"routing_key": routing_key, "dedup_key": view["fingerprint"], "event_action": action}
    if action != "trigger":  # acknowledge and resolve carry no payload (Events API v2)
        return event
    rendered = render_message(msg)
    summary = rendered.title if len(rendered.title) <= SUMMARY_MAX else rendered.title[:SUMMARY_MAX - 1] + "…"
    event["payload"] = {
        "summary": summary, "source": view["device"] or view["source_system"],
        "severity": SEVERITY.get(view["severity"], "error"), "timestamp": view["occurred_at"],
        "component": view["resource_key"] or None, "group": view["site"], "class": view["alert_type"],
        "custom_details": {"body": rendered.text, "rule": msg.rule, "alert_id": view["id"],
                           "category": view["category"], "device_ip": view["device_ip"], "tags": view["tags"],
                           "message": view["message"]},
    }
    event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
    event["client"] = "OpsConductor"
    if view["url"]:
        event["client_url"] = view["url"]
        event["links"] = [{"href": view["url"], "text": "View alert in OpsConductor"}]
    return event


class PagerDutyDriver(Driver):
    type = "pagerduty"

    @property
    def url(self) -> str:
        return str(self.settings.get("url", DEFAULT_URL))

    @property
    def recipient(self) -> str:
        return f"pagerduty:{host_of(self.url)}"

    def requests(self, msg: Message) -> list[Outbound]:
        key = self.reveal("routing_key")
        out = []
        for i in range(len(msg.notifications)):
            event = pagerduty_event(msg.single(i), key)
            out.append(Outbound((msg.notifications[i].alert,), event, json_bytes(event)))
        return out

    async def send(self, out: Outbound) -> str:
        response = await http_send(self, "POST", self.url, out.data)
        return f"HTTP {response.status}"
