"""`opsc check connector NAME` and `opsc check channel NAME`: try one before trusting it.

A polling connector logs in and polls once; a trap receiver binds its addresses and
listens for a while; a webhook says where it listens and whether its secrets resolve.
What came back is shown as it would be stored (normalized alerts), and nothing is stored:
the events go to a list, not to the engine. Failures are the connector's own located
errors (connector and field), masked like its log lines.

A channel is sent one notification, clearly marked as a test, through its real driver and
delivery (with its retries), and the vendor's answer is shown; nothing is stored.
"""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .config.bundle import Bundle, ConnectorConfig
from .config.secrets import Secret
from .connectors.registry import ENDPOINTS, NORMALIZERS, RECEIVERS, connector_class
from .errors import OpscError
from .model import Alert, DropEvent, RawEvent, Severity, StoredAlert, fingerprint
from .notify.channels import DRIVERS, DeliveryError
from .notify.delivery import RetryPolicy, deliver
from .notify.http import HttpClient
from .notify.message import Message, alert_view
from .pipeline.context import ConfigView
from .pipeline.effects import FIRING, Notification

SHOW = 5  # normalized alerts printed in full
CHECK_RETRIES = RetryPolicy(backoff_base=0.5, backoff_max=2.0, retry_after_max=5.0)  # a person is waiting


@dataclass
class CheckReport:
    """What a check found: `ok` is False when the connector could not do its job."""

    subject: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        self.lines.append(f"error: {message}")

    def text(self) -> str:
        head = f"{self.subject}: {'ok' if self.ok else 'FAILED'}"
        return "\n".join([head, *("  " + line for line in self.lines)])


async def check_connector(bundle: Bundle, name: str, *, listen_seconds: float = 10.0, show: int = SHOW,
                          **connector_options: Any) -> CheckReport:
    config = bundle.connector(name)
    if config is None:
        known = ", ".join(sorted(c.name for c in bundle.connectors)) or "none"
        return _failed(f"connector {name}", f"no connector named {name!r} in the tree (known: {known})")
    report = CheckReport(f"connector {name} ({config.type})")
    if not config.enabled:
        report.lines.append("note: enabled is false; the engine does not run it (checked anyway)")
    events: list[RawEvent] = []
    try:
        if config.type in ENDPOINTS:  # served by the web layer: nothing to run here
            _webhook(config, report)
            return report
        if config.type in RECEIVERS:
            await _listen(config, events.extend, listen_seconds, report)
        else:
            await _poll(config, events.extend, report, connector_options)
    except OpscError as exc:
        report.fail(str(exc))
        return report
    if report.ok:
        _normalized(bundle, config, events, show, report)
    return report


TEST_TITLE = "[TEST] OpsConductor test notification: please ignore"


async def check_channel(bundle: Bundle, name: str, *, dashboard_url: str | None = None) -> CheckReport:
    channel = bundle.channel(name)
    if channel is None:
        known = ", ".join(sorted(c.name for c in bundle.channels)) or "none"
        return _failed(f"channel {name}", f"no channel named {name!r} in the tree (known: {known})")
    report = CheckReport(f"channel {name} ({channel.type})")
    driver_class = DRIVERS.get(channel.type)
    if driver_class is None:
        report.fail(f"{name}: channel type {channel.type!r} has no delivery")
        return report
    now = datetime.now(timezone.utc)
    alert = StoredAlert(source_system="opsc_check", source_alert_id="opsc-check", severity=Severity.INFO,
                        category="application", alert_type="opsc_test_notification", title=TEST_TITLE,
                        message=f"Sent by `opsc check channel {name}` to check the channel; no alert is open.",
                        occurred_at=now, received_at=now, fingerprint=fingerprint("opsc_check", "", "test", name),
                        device_name="opsconductor", id=str(uuid.uuid4()))
    n = Notification(alert, "opsc-check", name, FIRING, now)
    msg = Message("opsc-check", name, FIRING, (n,), (alert_view(alert, None, dashboard_url),),
                  dashboard_url=dashboard_url)
    client = HttpClient()
    driver = driver_class(channel, client)
    attempts: list = []
    try:
        for out in driver.requests(msg):
            await deliver(driver, msg, out, CHECK_RETRIES, attempts.extend)
    except DeliveryError as exc:  # a configuration problem (a secret that does not resolve)
        report.fail(f"{name}: {driver.mask(exc.message)}")
    finally:
        driver.close()
        await client.close()
    for a in attempts:
        answer = (a.payload or {}).get("result") if a.status == "sent" else a.error_message
        line = f"{a.status} to {a.recipient}" + (f": {answer}" if answer else "")
        if a.status == "sent":
            report.lines.append(line)
        elif a.status == "retrying":
            report.lines.append(line + " (tried again)")
        else:
            report.fail(line)
    if report.ok and not attempts:
        report.fail(f"{name}: nothing was sent")
    return report


def _failed(subject: str, message: str) -> CheckReport:
    report = CheckReport(subject)
    report.fail(message)
    return report


async def _poll(config: ConnectorConfig, sink, report: CheckReport, options: dict) -> None:
    connector = connector_class(config.type)(config, sink, **options)
    try:
        await connector.poll_once()
    finally:
        await connector.stop()  # logs out of a vendor session
    status = connector.status()
    if status.status == "failing":
        report.fail(status.error_message or "the poll failed")
    else:
        report.lines.append("logged in and polled once")


async def _listen(config: ConnectorConfig, sink, seconds: float, report: CheckReport) -> None:
    receiver = RECEIVERS[config.type](config, sink)
    try:
        await receiver.start()
    except OSError as exc:
        raise OpscError(f"{config.name}: cannot bind {', '.join(config.settings.get('listen', ()))}: {exc.strerror} "
                        "(is the engine running on this address? stop it, or check from another host)") from None
    try:
        buffers = ", ".join(f"{addr} (receive buffer {size} bytes)" for addr, size in receiver.receive_buffers.items())
        report.lines.append(f"listening on {buffers} for {seconds:g}s")
        await asyncio.sleep(seconds)
    finally:
        await receiver.stop()


def _webhook(config: ConnectorConfig, report: CheckReport) -> None:
    report.lines.append(f"receives POST /api/v1/events/{config.name} (format {config.settings.get('format', 'generic')})")
    auth = config.settings.get("auth") or {}
    if not auth:
        report.lines.append("no authentication configured: anyone who reaches the engine may post events")
    for key, value in sorted(auth.items()):
        if isinstance(value, Secret):
            if value.available:
                report.lines.append(f"auth.{key}: {value.reference} resolves")
            else:
                report.fail(f"{config.name}: auth.{key}: {value.reference}: {value.problem}; every request is refused")


def _normalized(bundle: Bundle, config: ConnectorConfig, events: list[RawEvent], show: int,
                report: CheckReport) -> None:
    normalize = NORMALIZERS[config.type]
    view = ConfigView(bundle)
    alerts: list[Alert] = []
    dropped = 0
    for event in events:
        try:
            alerts.extend(normalize(event, view))
        except DropEvent:
            dropped += 1
        except Exception as exc:  # noqa: BLE001 - a check reports what it found, never a traceback
            report.fail(f"{config.name}: event {event.payload.get('key', event.event_id)}: {type(exc).__name__}: {exc}")
    states = Counter(str(e.payload.get("state", "event")) for e in events)
    report.lines.append(f"{len(events)} event(s) ({', '.join(f'{n} {s}' for s, n in sorted(states.items())) or 'none'})"
                        f" → {len(alerts)} alert(s)" + (f", {dropped} dropped by the connector's settings" if dropped else ""))
    by_severity = Counter(a.severity.value for a in alerts)
    if by_severity:
        report.lines.append("by severity: " + ", ".join(f"{s} {n}" for s, n in by_severity.most_common()))
    for alert in alerts[:show]:
        device = alert.device_name or alert.device_ip or "-"
        report.lines.append(f"{alert.severity.value:<8} {alert.alert_type:<24} {device:<24} {alert.title}")
    if len(alerts) > show:
        report.lines.append(f"… and {len(alerts) - show} more")
