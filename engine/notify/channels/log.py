"""The `log` channel, for dry runs: the message's title (and body at debug) to the log."""
from __future__ import annotations

import logging

from ..message import Message
from ..templates import render_message
from .base import Driver, Outbound

log = logging.getLogger("opsconductor.notify.log")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


class LogDriver(Driver):
    type = "log"

    @property
    def recipient(self) -> str:
        return "log"

    def requests(self, msg: Message) -> list[Outbound]:
        rendered = render_message(msg)
        return [Outbound(msg.alerts, {"title": rendered.title, "body": rendered.text, "rule": msg.rule})]

    async def send(self, out: Outbound) -> str:
        level = LEVELS.get(str(self.settings.get("level", "info")), logging.INFO)
        log.log(level, "[%s] %s (rule %s)", self.name, self.mask(out.body["title"]), out.body["rule"])
        log.debug("[%s] %s", self.name, self.mask(out.body["body"]))
        return "logged"
