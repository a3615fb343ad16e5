"""The contract every channel passes (cf. Alertmanager's notify/test): delivered once and
logged `sent`; timeouts, connection errors, 5xx and 429 retried with backoff (Retry-After
honoured), then parked for a later attempt (failed at once with `retry_for: 0s`); other 4xx
not retried; the error recorded; every attempt a notification_log row;
secrets never in the log rows, the recipient, or the log output — even when the receiver
echoes the request back in its error page.

(Named notify_contract.py, not contract.py: tests/ has no packages, and tests/connectors
already has a `contract` module on sys.path.)

A channel type is described by a Kit; test_notify_contract.py runs every test for every kit.
Faults are kit-neutral names: `transient` (HTTP 500, SMTP 451), `permanent` (HTTP 400,
SMTP 550), `slow:S`, `429:S` (HTTP only), `echo` (an error page quoting the request).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from notify_helpers import FAST, connector, load_tree, make_alert, notification, store_alerts, log_rows
from notify_sinks import HttpSink, SmtpSink, free_port

from opsconductor.engine.notify.notifier import Notifier


@dataclass
class Sinks:
    http: HttpSink
    smtp: SmtpSink


@dataclass
class Kit:
    type: str
    config: Callable[[Sinks], dict]  # the channel's keys (secrets as ${env:…})
    env: Callable[[Sinks], dict[str, str]]  # the secret values, recognizable
    markers: tuple[str, ...]  # strings that must never show up anywhere
    deliveries: Callable[[Sinks], int]  # successful deliveries the receiver saw
    attempts: Callable[[Sinks], list[float]]  # times of every request the receiver saw
    fault: Callable[[Sinks, str], None]
    refuse: Callable[[dict], dict]  # the channel config pointed at a closed port
    faults: frozenset[str] = frozenset({"transient", "permanent", "slow", "429", "echo", "refused"})
    missing_secret: str | None = None  # an env name whose absence makes the channel unusable
    extra: dict = field(default_factory=dict)


def _http_kit(type_: str, path: str, key: str | None, secret_env: str | None, markers: tuple[str, ...],
              config: Callable[[Sinks], dict], env: Callable[[Sinks], dict], refuse: Callable[[dict], dict],
              ok: tuple[int, str] = (200, "ok")) -> Kit:
    def fault(s: Sinks, name: str) -> None:
        s.http.normal[path] = ok
        if name == "transient":
            s.http.script(path, "500")
        elif name == "permanent":
            s.http.script(path, "400")
        elif name == "echo":
            s.http.script(path, "echo")
        else:
            s.http.script(path, name)
    return Kit(type_, config, env, markers,
               deliveries=lambda s: len(s.http.delivered(path)),
               attempts=lambda s: [r.at for r in s.http.seen(path)], fault=fault, refuse=refuse,
               missing_secret=secret_env)


def _closed(key: str) -> Callable[[dict], dict]:
    return lambda cfg: {**cfg, key: f"http://127.0.0.1:{free_port()}/closed"}


WEBHOOK = _http_kit(
    "webhook", "/hook/in", "url", "HOOK_HMAC", ("hmac-secret-abc123",),
    config=lambda s: {"url": f"{s.http.url}/hook/in", "hmac_secret": "${env:HOOK_HMAC}",
                      "headers": {"X-Team": "noc"}},
    env=lambda s: {"HOOK_HMAC": "hmac-secret-abc123"}, refuse=_closed("url"))
SLACK = _http_kit(
    "slack", "/services/T000/B000/slack-secret-xyz789", "webhook_url", "SLACK_URL", ("slack-secret-xyz789",),
    config=lambda s: {"webhook_url": "${env:SLACK_URL}"},
    env=lambda s: {"SLACK_URL": f"{s.http.url}/services/T000/B000/slack-secret-xyz789"},
    refuse=lambda cfg: cfg)
TEAMS = _http_kit(
    "teams", "/workflows/teams-secret-456def", "webhook_url", "TEAMS_URL", ("teams-secret-456def", "sig=teamsig42"),
    config=lambda s: {"webhook_url": "${env:TEAMS_URL}"},
    env=lambda s: {"TEAMS_URL": f"{s.http.url}/workflows/teams-secret-456def?api-version=1&sig=teamsig42"},
    refuse=lambda cfg: cfg, ok=(202, ""))
PAGERDUTY = _http_kit(
    "pagerduty", "/v2/enqueue", "url", "PD_KEY", ("pd-routing-key-789ghi",),
    config=lambda s: {"routing_key": "${env:PD_KEY}", "url": f"{s.http.url}/v2/enqueue"},
    env=lambda s: {"PD_KEY": "pd-routing-key-789ghi"}, refuse=_closed("url"),
    ok=(202, '{"status":"success","message":"Event processed","dedup_key":"x"}'))


def _smtp_fault(s: Sinks, name: str) -> None:
    s.smtp.script.append({"transient": "451", "permanent": "550"}.get(name, name))


EMAIL = Kit(
    "email",
    config=lambda s: {"to": ["noc@example.net"], "from": "opsc@example.net",
                      "smtp": {"host": "127.0.0.1", "port": s.smtp.port, "security": "none",
                               "username": "opsc", "password": "${env:SMTP_PASSWORD}"}},
    env=lambda s: {"SMTP_PASSWORD": "smtp-password-qrs321"}, markers=("smtp-password-qrs321",),
    deliveries=lambda s: len(s.smtp.messages), attempts=lambda s: [], fault=_smtp_fault,
    refuse=lambda cfg: {**cfg, "smtp": {**cfg["smtp"], "port": free_port()}},
    faults=frozenset({"transient", "permanent", "slow", "echo", "refused"}), missing_secret="SMTP_PASSWORD")
LOG = Kit("log", config=lambda s: {"level": "warning"}, env=lambda s: {}, markers=(),
          deliveries=lambda s: 0, attempts=lambda s: [], fault=lambda s, n: None, refuse=lambda cfg: cfg,
          faults=frozenset())

KITS = [WEBHOOK, EMAIL, SLACK, TEAMS, PAGERDUTY, LOG]


def run(kit: Kit, sinks: Sinks, tmp_path, db_url: str, *, faults: tuple[str, ...] = (), retries: int = 2,
        timeout: str = "500ms", refuse: bool = False, env: dict | None = None, policy=FAST,
        retry_for: str | None = None):
    """One firing notification through a fresh notifier; returns (log rows, notifier)."""
    env = kit.env(sinks) if env is None else env
    cfg = {"name": "ch", "type": kit.type, "timeout": timeout, "retries": retries, **kit.config(sinks)}
    if retry_for is not None:
        cfg["retry_for"] = retry_for
    if refuse:
        cfg = kit.refuse(cfg)
        if kit.type in ("slack", "teams"):
            env = {k: f"http://127.0.0.1:{free_port()}/services/closed/slack-secret-xyz789/teams-secret-456def"
                   for k in env}
    bundle = load_tree(tmp_path, [cfg], [{"name": "page", "notify": {"channels": ["ch"]}}], env)
    alert = make_alert(1, device_name="site1-ups")
    store_alerts(db_url, [alert])
    for f in faults:
        kit.fault(sinks, f)
    notifier = Notifier(connector(db_url), lambda: bundle, policy=policy)
    notifier.start()
    try:
        notifier.submit([notification(alert, bundle, "page")])
        notifier.flush(timeout=20)
    finally:
        notifier.stop()
    return log_rows(db_url), notifier


def leaks(kit: Kit, rows: list[dict], caplog: logging.Handler | None, extra: str = "") -> list[str]:
    import json
    text = json.dumps(rows, default=str) + extra + (caplog.text if caplog is not None else "")
    return [m for m in kit.markers if m in text]
