"""What each channel puts on the wire: shapes checked at local receivers."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from notify_helpers import FAST, connector, load_tree, log_rows, make_alert, notification, store_alerts
from notify_sinks import SmtpSink, self_signed

from opsconductor.engine.model import Status, evolve
from opsconductor.engine.notify.notifier import Notifier

DEVICES = [{"name": "site1-ups", "ip": "10.20.0.5", "site": "site1"}]


def deliver(tmp_path, db_url, channel: dict, env: dict, kinds=("firing",), rule: dict | None = None,
            dashboard_url: str | None = "https://opsc.example.net", **alert_fields):
    bundle = load_tree(tmp_path, [{"name": "ch", **channel}],
                       [{"name": "page-power", "notify": {"channels": ["ch"], **(rule or {})}}], env, DEVICES)
    alert = make_alert(1, **{"device_ip": "10.20.0.5", "device_name": "site1-ups", **alert_fields})
    store_alerts(db_url, [alert])
    notifier = Notifier(connector(db_url), lambda: bundle, policy=FAST, dashboard_url=dashboard_url)
    notifier.start()
    try:
        for kind in kinds:
            status = {"resolved": Status.RESOLVED, "acknowledged": Status.ACKNOWLEDGED}.get(kind, alert.status)
            a = evolve(alert, status=status)
            notifier.submit([notification(a, bundle, "page-power", kind)])
            notifier.flush()
    finally:
        notifier.stop()
    return alert, log_rows(db_url)


def test_webhook_json_method_headers_and_signature(sinks, tmp_path, db_url) -> None:
    alert, rows = deliver(tmp_path, db_url, {"type": "webhook", "url": f"{sinks.http.url}/hook", "method": "PUT",
                                             "headers": {"X-Team": "noc"}, "hmac_secret": "${env:HMAC}"},
                          {"HMAC": "s3cret-hmac"})
    (req,) = sinks.http.seen("/hook")
    assert req.method == "PUT" and req.headers["x-team"] == "noc"
    assert req.headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(b"s3cret-hmac", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-opsconductor-signature"] == expected
    body = req.json()
    assert (body["version"], body["kind"], body["rule"], body["channel"]) == ("1", "firing", "page-power", "ch")
    assert body["title"] == "[CRITICAL] UPS Low Battery - site1-ups"
    (a,) = body["alerts"]
    assert a["id"] == alert.id and a["fingerprint"] == alert.fingerprint and a["site"] == "site1"
    assert a["url"] == f"https://opsc.example.net/alerts/{alert.id}" and a["severity"] == "critical"
    assert rows[0]["recipient"] == f"{sinks.http.url}/hook" and rows[0]["status"] == "sent"


def test_slack_blocks(sinks, tmp_path, db_url) -> None:
    url = f"{sinks.http.url}/services/T1/B1/xyzsecret"
    deliver(tmp_path, db_url, {"type": "slack", "webhook_url": "${env:SLACK}"}, {"SLACK": url})
    body = sinks.http.seen("/services/T1/B1/xyzsecret")[0].json()
    assert body["text"] == "[CRITICAL] UPS Low Battery - site1-ups"
    header, section, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": body["text"], "emoji": True}}
    assert section["text"]["type"] == "mrkdwn" and "*Device:* site1-ups (10.20.0.5)" in section["text"]["text"]
    assert "<https://opsc.example.net/alerts/" in section["text"]["text"]
    assert context["type"] == "context"


def test_slack_escapes_values(sinks, tmp_path, db_url) -> None:
    deliver(tmp_path, db_url, {"type": "slack", "webhook_url": "${env:SLACK}"},
            {"SLACK": f"{sinks.http.url}/services/esc/esc/escaped"}, title="Temp <high> & rising",
            message="<!channel> look")
    text = sinks.http.seen("/services/esc/esc/escaped")[0].json()["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; look" in text and "<!channel>" not in text


def test_teams_adaptive_card(sinks, tmp_path, db_url) -> None:
    sinks.http.normal["/workflows/t1"] = (202, "")
    alert, rows = deliver(tmp_path, db_url, {"type": "teams", "webhook_url": "${env:TEAMS}"},
                          {"TEAMS": f"{sinks.http.url}/workflows/t1?sig=abc123"})
    body = sinks.http.seen("/workflows/t1")[0].json()
    assert body["type"] == "message"
    (att,) = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive" and att["contentUrl"] is None
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, facts = card["body"]
    assert title["text"] == "[CRITICAL] UPS Low Battery - site1-ups" and title["color"] == "Attention"
    assert {"title": "Site", "value": "site1"} in facts["facts"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "View alert",
                                "url": f"https://opsc.example.net/alerts/{alert.id}"}]
    assert rows[0]["recipient"] == f"127.0.0.1:{sinks.http.port}" and "abc123" not in json.dumps(rows, default=str)


def test_pagerduty_trigger_acknowledge_then_resolve(sinks, tmp_path, db_url) -> None:
    sinks.http.normal["/v2/enqueue"] = (202, '{"status":"success"}')
    alert, rows = deliver(tmp_path, db_url, {"type": "pagerduty", "routing_key": "${env:PD}",
                                             "url": f"{sinks.http.url}/v2/enqueue"},
                          {"PD": "R0UTINGKEY0123456789"}, kinds=("firing", "acknowledged", "resolved"))
    trigger, ack, resolve = (r.json() for r in sinks.http.seen("/v2/enqueue"))
    assert ack == {"routing_key": "R0UTINGKEY0123456789", "dedup_key": alert.fingerprint, "event_action": "acknowledge"}
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R0UTINGKEY0123456789"
    assert trigger["dedup_key"] == alert.fingerprint
    p = trigger["payload"]
    assert p["summary"] == "[CRITICAL] UPS Low Battery - site1-ups" and p["severity"] == "critical"
    assert p["source"] == "site1-ups" and p["group"] == "site1" and p["class"] == "ups_low_battery"
    assert trigger["links"][0]["href"].endswith(f"/alerts/{alert.id}")
    assert resolve == {"routing_key": "R0UTINGKEY0123456789", "dedup_key": alert.fingerprint, "event_action": "resolve"}
    assert [r["status"] for r in rows] == ["sent", "sent", "sent"]
    assert "R0UTINGKEY0123456789" not in json.dumps(rows, default=str)


def test_email_parts_and_headers(sinks, tmp_path, db_url) -> None:
    alert, rows = deliver(tmp_path, db_url, {"type": "email", "to": ["noc@example.net", "ops@example.net"],
                                             "from": "opsc@example.net",
                                             "smtp": {"host": "127.0.0.1", "port": sinks.smtp.port, "security": "none",
                                                      "username": "opsc", "password": "${env:PW}"}},
                          {"PW": "smtp-password-qrs321"})
    (mail,) = sinks.smtp.messages
    assert mail.rcpt_tos == ["noc@example.net", "ops@example.net"] and mail.mail_from == "opsc@example.net"
    msg = mail.parsed
    assert msg["Subject"] == "[CRITICAL] UPS Low Battery - site1-ups"
    assert msg["From"] == "opsc@example.net" and msg["To"] == "noc@example.net, ops@example.net"
    assert msg["X-OpsConductor-Rule"] == "page-power" and msg["X-OpsConductor-Alert-Id"] == alert.id
    assert msg["Message-ID"] and msg["Date"] and msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for needle in ("Device:   site1-ups (10.20.0.5)", "Severity: critical", "Status:   active",
                   "Time:     2026-03-01 12:00:01 UTC", "Message:  battery at 10%",
                   f"Link:     https://opsc.example.net/alerts/{alert.id}"):
        assert needle in text
    assert f'<a href="https://opsc.example.net/alerts/{alert.id}">' in html and "<th align=\"left\">Severity</th>" in html
    assert sinks.smtp.logins == ["opsc"] and rows[0]["recipient"] == "noc@example.net, ops@example.net"


def test_email_threads_what_follows_under_the_firing_email(sinks, tmp_path, db_url) -> None:
    alert, _ = deliver(tmp_path, db_url, {"type": "email", "to": ["noc@example.net"], "from": "opsc@example.net",
                                          "smtp": {"host": "127.0.0.1", "port": sinks.smtp.port, "security": "none"}},
                       {}, kinds=("firing", "repeat", "resolved"))
    firing, repeat, resolved = ({k: str(v).strip() for k, v in m.parsed.items()} for m in sinks.smtp.messages)
    root = f"<opsc.{alert.id}.page-power@example.net>"
    assert firing["Message-ID"] == root and "In-Reply-To" not in firing
    for later in (repeat, resolved):
        assert later["In-Reply-To"] == root and later["References"] == root
        assert later["Message-ID"] != root and later["Message-ID"].endswith("@example.net>")
    assert repeat["Message-ID"] != resolved["Message-ID"]


def test_email_html_is_escaped_and_rule_template_used(sinks, tmp_path, db_url) -> None:
    deliver(tmp_path, db_url, {"type": "email", "to": ["noc@example.net"],
                               "smtp": {"host": "127.0.0.1", "port": sinks.smtp.port, "security": "none"}}, {},
            rule={"template": {"title": "{{ severity|upper }}: {{ title }}",
                               "body": "Look at {{ device_name }}: {{ message }}"}},
            device_name="<b>ups</b>", message="5 < 6 & rising")
    msg = sinks.smtp.messages[0].parsed
    assert msg["Subject"] == "CRITICAL: UPS Low Battery"
    assert msg.get_body(("plain",)).get_content().strip() == "Look at <b>ups</b>: 5 < 6 & rising"
    html = msg.get_body(("html",)).get_content()
    assert "&lt;b&gt;ups&lt;/b&gt;" in html and "5 &lt; 6 &amp; rising" in html and "<b>ups</b>" not in html


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_email_over_tls_with_auth(security, tmp_path, db_url, monkeypatch) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # trust the test certificate (ssl's default verify paths)
    server = SmtpSink(security, users={"opsc": "tls-password"}, cert=(cert, key)).start()
    try:
        _, rows = deliver(tmp_path, db_url, {"type": "email", "to": ["noc@example.net"],
                                             "smtp": {"host": "127.0.0.1", "port": server.port, "security": security,
                                                      "username": "opsc", "password": "${env:PW}"}},
                          {"PW": "tls-password"})
    finally:
        server.stop()
    assert [r["status"] for r in rows] == ["sent"], rows[0]["error_message"]
    assert server.logins == ["opsc"] and len(server.messages) == 1 and server.messages[0].tls


def test_log_channel(sinks, tmp_path, db_url, caplog) -> None:
    _, rows = deliver(tmp_path, db_url, {"type": "log", "level": "warning"}, {}, kinds=("firing", "resolved"))
    lines = [r.getMessage() for r in caplog.records if r.name == "opsconductor.notify.log" and r.levelname == "WARNING"]
    assert lines == ["[ch] [CRITICAL] UPS Low Battery - site1-ups (rule page-power)",
                     "[ch] [RESOLVED] UPS Low Battery - site1-ups (rule page-power)"]
    assert [(r["status"], r["recipient"]) for r in rows] == [("sent", "log"), ("sent", "log")]
