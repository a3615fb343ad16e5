"""A small, realistic site for the web tests and screenshots: mains power fails at a site.

The UPS goes on battery, the access switch behind it drops, the cameras behind the switch
become unreachable and are suppressed under the switch; elsewhere a few unrelated alerts.
Written through the engine's one write path (engine/store/direct.py), as the engine would.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg

from opsconductor.engine.model import Alert, Severity, Status, fingerprint
from opsconductor.engine.pipeline.commands import OperatorCommand, Verb
from opsconductor.engine.events import Decision, Enriched, Normalized, Notified, Other, UnderRoot
from opsconductor.engine.store.config_versions import record_applied, record_refused
from opsconductor.engine.store.direct import change_stored, run_command, store_alerts, store_decisions
from opsconductor.engine.store.notification_log import NotificationAttempt, record_notifications


def _alert(src: str, ip: str, name: str, atype: str, sev: Severity, title: str, cat: str, at: datetime,
           **kw) -> Alert:
    return Alert(source_system=src, source_alert_id=f"{src}-{ip}-{atype}", severity=sev, category=cat,
                 alert_type=atype, title=title, occurred_at=at, received_at=at,
                 fingerprint=fingerprint(src, ip, atype, kw.get("resource_key", "")), device_ip=ip,
                 device_name=name, connector=kw.pop("connector", f"{src}-main"), **kw)


def _stored(conn: psycopg.Connection, alerts: list[Alert]) -> list[Alert]:
    return [replace(a, id=i) for a, i in zip(alerts, store_alerts(conn, alerts))]


def seed(url: str, now: datetime | None = None) -> dict[str, str]:
    now = now or datetime.now(timezone.utc)
    t = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    with psycopg.connect(url, autocommit=True) as conn:
        record_applied(conn, content_hash="9f2c4e1ab07d3c55e8a41f6b2d9e07c3a1b5f8e2d4c6a8b0e1f3a5c7d9b2e4f6",
                       git_commit="4e1d9a27c3b8f05e6a1d2c3b4a5f6e7d8c9b0a1f",
                       files=[{"path": p} for p in ("connectors.d/prtg.yaml", "connectors.d/snmp.yaml",
                                                        "connectors.d/milestone.yaml", "rules/routing.yaml",
                                                        "dependencies.d/site-north.yaml")])
        record_refused(conn, content_hash="0" * 64, git_commit="7a7b7c7d", errors=[
            {"file": "rules/routing.yaml", "line": 14, "col": 7, "path": "$.rules[2].match.sevrity",
             "message": "unknown key 'sevrity'", "hint": "did you mean 'severity'?", "level": "error"}])
        conn.execute("""INSERT INTO connectors (name, type, enabled, status, error_message, last_poll_at,
                        last_success_at, alerts_received, alerts_today, alerts_today_date) VALUES
            ('prtg-main', 'prtg', true, 'ok', NULL, now() - interval '20 s', now() - interval '20 s', 18234, 41, CURRENT_DATE),
            ('snmp-traps', 'snmp_trap', true, 'ok', NULL, now() - interval '3 s', now() - interval '3 s', 90211, 187, CURRENT_DATE),
            ('milestone-vms', 'milestone', true, 'degraded', 'HTTP 503 from recording server rs-02 (2 of 3 answer)', now() - interval '40 s', now() - interval '6 min', 5120, 12, CURRENT_DATE),
            ('eaton-ups', 'eaton_rest', true, 'ok', NULL, now() - interval '30 s', now() - interval '30 s', 310, 4, CURRENT_DATE),
            ('cradlepoint', 'cradlepoint', false, 'disabled', NULL, NULL, NULL, 0, 0, NULL)""")
        conn.execute("""INSERT INTO dependencies (device_ip, depends_on_ip, dependency_type, description) VALUES
            ('10.20.0.2', '10.20.0.1', 'network', 'core uplink'),
            ('10.20.0.3', '10.20.0.1', 'network', 'core uplink'),
            ('10.20.1.1', '10.20.0.2', 'network', 'access switch north'),
            ('10.20.1.1', '10.20.9.10', 'power', 'UPS north feeds the access switch'),
            ('10.20.2.1', '10.20.0.3', 'network', 'access switch south'),
            ('10.20.1.0/24', '10.20.1.1', 'network', 'cameras north behind the access switch'),
            ('10.20.0.50', '10.20.0.3', 'network', 'VMS recording server')""")
        conn.execute("""INSERT INTO notification_rules (name, description, enabled, priority) VALUES
            ('page-oncall-critical', 'Critical alerts page the on-call engineer', true, 10),
            ('camera-under-switch', 'Cameras behind a down switch are suppressed', true, 20),
            ('email-noc-major', 'Major alerts mail the NOC list', true, 30),
            ('teams-video', 'Video alerts to the security team channel', false, 40)""")
        ups, switch = _stored(conn, [
            _alert("snmp_trap", "10.20.9.10", "ups-north-01", "ups_on_battery", Severity.MAJOR,
                   "UPS on battery: mains power lost", "power", t(9), connector="snmp-traps",
                   message="upsOnBattery trap; estimated runtime 18 min", raw_data={
                       "oid": "1.3.6.1.4.1.534.1.7.3", "varbinds": {"xupsBatTimeRemaining": 1080}}),
            _alert("snmp_trap", "10.20.1.1", "sw-access-north", "device_unreachable", Severity.CRITICAL,
                   "Access switch unreachable", "network", t(7), connector="snmp-traps",
                   message="No answer to ICMP or SNMP for 60 s", raw_data={"probe": "icmp", "loss": 100}),
        ])
        cams = _stored(conn, [
            _alert("milestone", f"10.20.1.{20 + i}", f"cam-north-{i:02d}", "camera_offline", Severity.MAJOR,
                   f"Camera cam-north-{i:02d} offline", "video", t(6 - i * 0.1), connector="milestone-vms",
                   raw_data={"cameraId": f"c-{i}", "recorder": "rs-01"})
            for i in range(1, 7)])
        for c in cams:
            change_stored(conn, c.id, "suppressed", Status.SUPPRESSED, correlated_to_id=switch.id,
                          correlation_rule="camera-under-switch")
        others = _stored(conn, [
            _alert("prtg", "10.20.0.50", "vms-rs-02", "disk_usage", Severity.MINOR,
                   "Recording volume D: 91% full", "storage", t(55), resource_key="D:"),
            _alert("prtg", "10.20.0.3", "core-sw-south", "cpu_high", Severity.WARNING,
                   "CPU load 87% (5 min average)", "network", t(32)),
            _alert("prtg", "10.30.4.8", "wap-lobby-2", "interface_errors", Severity.WARNING,
                   "CRC errors on uplink Gi0/1", "wireless", t(80), resource_key="Gi0/1"),
            _alert("eaton_rest", "10.20.9.11", "pdu-rack-a3", "outlet_overload", Severity.MAJOR,
                   "PDU outlet 7 near overload (15.2 A)", "power", t(140), connector="eaton-ups", resource_key="7"),
            _alert("prtg", "10.40.0.9", "fw-edge-01", "vpn_tunnel_down", Severity.CRITICAL,
                   "VPN tunnel to site West down", "network", t(3)),
            _alert("prtg", "10.40.0.12", "ntp-01", "ntp_drift", Severity.INFO, "NTP offset 120 ms", "compute", t(200)),
        ])
        run_command(conn, OperatorCommand(others[3].id, Verb.ACKNOWLEDGE, "token:otto", "otto",
                                          "Electrician on site 14:00"))
        store_decisions(conn, [
            Decision(switch.id, "oidmap:linkDown/cisco", Normalized("snmp_trap", "device_unreachable"), 1),
            Decision(switch.id, "builtin:device-name", Enriched(("device_name",)), 1),
            Decision(switch.id, "camera-under-switch", Other({"children": 6}), 1),
            Decision(switch.id, "page-oncall-critical", Notified(("pagerduty",)), 1),
            *[Decision(c.id, "camera-under-switch", UnderRoot(switch.id, root_title="Access switch unreachable"), 1)
              for c in cams],
        ])
        record_notifications(conn, [
            NotificationAttempt(switch.id, "pagerduty", "noc-oncall", "sent", rule_name="page-oncall-critical",
                                response_time_ms=212),
            NotificationAttempt(switch.id, "email", "noc@example.net", "failed", rule_name="email-noc-major",
                                error_message="SMTP 451 try again later"),
        ])
    return {"ups": ups.id, "switch": switch.id, "camera": cams[0].id, "vpn": others[4].id}
