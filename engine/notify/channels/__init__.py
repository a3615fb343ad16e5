"""Channel types: `type:` in a channel's config picks the driver class."""
from __future__ import annotations

from .base import DeliveryError, Driver, Outbound
from .email import EmailDriver
from .log import LogDriver
from .pagerduty import PagerDutyDriver
from .slack import SlackDriver
from .teams import TeamsDriver
from .webhook import WebhookDriver

DRIVERS: dict[str, type[Driver]] = {d.type: d for d in (WebhookDriver, EmailDriver, SlackDriver, TeamsDriver,
                                                         PagerDutyDriver, LogDriver)}

__all__ = ["DRIVERS", "DeliveryError", "Driver", "Outbound"]
