"""Shared pieces of the notification tests: a config tree through the real loader, alerts,
notifications, a fake clock, and the notification log read back from PostgreSQL."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import yaml

from opsconductor.engine.config.bundle import Bundle
from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.model import Alert, Severity, Status
from opsconductor.engine.notify.delivery import RetryPolicy
from opsconductor.engine.pipeline.effects import Notification
from opsconductor.engine.store import direct
from waiting import eventually  # noqa: F401  (the notify tests import it from here)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
FAST = RetryPolicy(backoff_base=0.05, backoff_max=0.2, retry_after_max=3.0)


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class SleepingClock:
    """Simulated seconds for delivery: sleeping advances them, nothing else does."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def load_tree(tmp_path: Path, channels: list[dict], rules: list[dict], env: dict[str, str] | None = None,
              devices: list[dict] | None = None) -> Bundle:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "notify.yaml").write_text(yaml.safe_dump({"channels": channels, "rules": rules}))
    if devices:
        (tmp_path / "dependencies.d").mkdir(exist_ok=True)
        (tmp_path / "dependencies.d" / "devices.yaml").write_text(yaml.safe_dump({"devices": devices}))
    return load_bundle(tmp_path, environ=env or {})


def make_alert(i: int = 0, *, device_ip: str | None = None, device_name: str | None = None,
               severity: Severity = Severity.CRITICAL, title: str = "UPS Low Battery",
               message: str | None = "battery at 10%", status: Status = Status.ACTIVE) -> Alert:
    ip = device_ip or f"10.20.{i // 250}.{i % 250 + 1}"
    fp = hashlib.sha256(f"test|{ip}|{title}|{i}".encode()).hexdigest()
    return Alert(source_system="test", source_alert_id=f"a{i}", severity=severity, category="power",
                 alert_type="ups_low_battery", title=title, occurred_at=T0 + timedelta(seconds=i),
                 received_at=T0 + timedelta(seconds=i), fingerprint=fp, device_ip=ip, device_name=device_name,
                 message=message, status=status, id=str(uuid.uuid4()), connector="test")


def notification(alert: Alert, bundle: Bundle, rule: str, kind: str = "firing", channel: str | None = None) -> Notification:
    r = next(r for r in bundle.rules if r.name == rule)
    return Notification(alert, rule, channel or r.notify.channels[0], kind, alert.occurred_at, r.notify)


def store_alerts(db_url: str, alerts: list[Alert]) -> None:
    with psycopg.connect(db_url) as conn:
        direct.store_alerts(conn, alerts)


def log_rows(db_url: str, channel: str | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT alert_id::text, rule_name, channel, recipient, status, error_message, payload, sent_at,"
            " response_time_ms FROM notification_log" + (" WHERE channel = %s" if channel else "") +
            " ORDER BY sent_at, id", (channel,) if channel else ())
        names = [d.name for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def outbox_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM notification_outbox").fetchone()[0]


def connector(db_url: str):
    """The notifier's connections as `opsc serve` makes them: autocommit (reads need no
    transaction; settle opens its own)."""
    return lambda: psycopg.connect(db_url, autocommit=True)
