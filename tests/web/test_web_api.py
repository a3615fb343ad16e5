"""The JSON API against a real migrated PostgreSQL, driven in-process."""
from __future__ import annotations

from datetime import timedelta

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from web_fixtures import ADMIN, OPERATOR, T0, VIEWER, bearer, make_alert
from opsconductor.engine.model import Severity, Status
from opsconductor.engine.events import Decision, Enriched, Normalized, Notified
from opsconductor.engine.store.direct import change_stored, store_decisions
from opsconductor.engine.store.notification_log import NotificationAttempt, record_notifications


def test_list_filters(client, add_alerts):
    add_alerts(make_alert(severity=Severity.CRITICAL, category="power", title="UPS on battery", device_ip="10.9.9.9"),
               make_alert(severity=Severity.MINOR, source_system="snmp_trap"),
               make_alert(severity=Severity.WARNING, message="fan 2 failed"))

    def titles(**params):
        r = client.get("/api/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        return [a["title"] for a in r.json()["items"]]

    assert len(titles()) == 3
    assert titles(severity="critical") == ["UPS on battery"]
    assert len(titles(severity="critical,minor")) == 2
    assert titles(category="power") == ["UPS on battery"]
    assert titles(device_ip="10.9.9.9") == ["UPS on battery"]
    assert len(titles(source_system="snmp_trap")) == 1
    assert titles(q="ups on") == ["UPS on battery"]
    assert len(titles(q="FAN 2")) == 1  # message, case-insensitive
    assert titles(q="100%_") == []  # LIKE wildcards are literal
    assert len(titles(status="open")) == 3 and titles(status="resolved") == []


def test_newest_first_and_cursor_round_trip_stable_under_inserts(client, add_alerts):
    add_alerts(*[make_alert(received_at=T0 + timedelta(minutes=i)) for i in range(7)])
    seen, cursor, pages = [], None, 0
    while pages < 10:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/alerts", params=params).json()
        seen += [a["received_at"] for a in body["items"]]
        pages += 1
        if pages == 1:  # newer alerts arriving while paging do not shift the pages
            add_alerts(make_alert(received_at=T0 + timedelta(hours=5)), make_alert(received_at=T0 + timedelta(hours=6)))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)


def test_same_received_at_is_paged_by_id(client, add_alerts):
    add_alerts(*[make_alert(received_at=T0) for _ in range(5)])
    ids, cursor = [], None
    for _ in range(5):
        body = client.get("/api/v1/alerts", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        ids += [a["id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(ids) == 5 and len(set(ids)) == 5 and ids == sorted(ids, reverse=True)


def test_detail_has_trail_history_notifications_and_correlation(client, add_alerts, db_url):
    root, child = add_alerts(make_alert(severity=Severity.CRITICAL, title="Switch down"), make_alert(title="Cam off"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        change_stored(conn, child, "suppressed", Status.SUPPRESSED, correlated_to_id=root,
                      correlation_rule="cams-behind-switch")
        store_decisions(conn, [Decision(root, "oidmap:linkDown", Normalized("snmp_trap", "link_down")),
                               Decision(root, "page-oncall", Notified(("noc-email",)))])
        record_notifications(conn, [NotificationAttempt(root, "email", "noc@example.net", "sent", rule_name="r1")])
    body = client.get(f"/api/v1/alerts/{root}").json()
    assert body["alert"]["title"] == "Switch down"
    assert [d["rule"] for d in body["decisions"]] == ["oidmap:linkDown", "page-oncall"]
    assert [h["action"] for h in body["history"]] == ["created"]
    assert body["notifications"][0]["recipient"] == "noc@example.net"
    assert body["correlation"]["children_total"] == 1 and body["correlation"]["children"][0]["id"] == child
    kid = client.get(f"/api/v1/alerts/{child}").json()
    assert kid["correlation"]["root"]["id"] == root and kid["correlation"]["rule"] == "cams-behind-switch"


def test_operator_acknowledges_and_resolves_and_history_says_who(client, add_alerts, engine):
    (alert_id,) = add_alerts(make_alert())
    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "on it"}, headers=bearer(OPERATOR))
    assert r.status_code == 200, r.text
    assert r.json() == {"alert_id": alert_id, "action": "acknowledged", "old_status": "active",
                        "new_status": "acknowledged", "by": "otto"}
    assert client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=bearer(OPERATOR)).status_code == 200
    detail = client.get(f"/api/v1/alerts/{alert_id}").json()
    ack, res = detail["history"][1:]
    assert (ack["action"], ack["user_id"], ack["user_name"], ack["notes"]) == ("acknowledged", "token:otto", "otto", "on it")
    assert (res["action"], res["user_name"]) == ("resolved", "otto")
    assert detail["alert"]["status"] == "resolved" and detail["alert"]["acknowledged_by"] == "otto"
    assert engine.changed == [(alert_id, "acknowledged"), (alert_id, "resolved")]  # the engine's view follows


def test_admin_may_do_what_an_operator_may(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    assert client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=bearer(ADMIN)).status_code == 200


def test_viewer_refused_and_nobody_unauthorized(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer(VIEWER))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert r.json()["error"]["details"] == {"required_role": "operator", "role": "viewer"}
    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer("not-a-token"))
    assert r.status_code == 401
    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def test_read_access_viewer_needs_a_token(client_for):
    c = client_for(read_access="viewer")
    assert c.get("/api/v1/alerts").status_code == 401
    assert c.get("/api/v1/alerts", headers=bearer(VIEWER)).status_code == 200
    assert c.get("/metrics").status_code == 401
    assert c.get("/healthz").status_code == 200  # probes stay open
    page = c.get("/alerts", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")


def test_reload_needs_admin_and_calls_the_engine(client, engine):
    assert client.post("/api/v1/config/reload", headers=bearer(OPERATOR)).status_code == 403
    r = client.post("/api/v1/config/reload", headers=bearer(ADMIN))
    assert r.status_code == 200 and r.json() == {"outcome": "applied", "version": 8}
    assert engine.reloads == ["admin (OPSC_ADMIN_TOKEN)"]


def test_no_engine_means_503_for_engine_actions(client_for):
    c = client_for(engine=None)
    r = c.post("/api/v1/config/reload", headers=bearer(ADMIN))
    assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
    assert c.get("/api/v1/config").json()["engine_running"] is False


def test_no_engine_means_alerts_are_read_only_and_it_says_so(client_for, add_alerts, db_url):
    """Only the engine writes alerts: without one, an acknowledge or resolve is refused with
    the envelope, the alert page says why instead of showing the forms, and nothing changed."""
    (alert_id,) = add_alerts(make_alert())
    c = client_for(engine=None)
    for action in ("acknowledge", "resolve"):
        r = c.post(f"/api/v1/alerts/{alert_id}/{action}", json={"note": "x"}, headers=bearer(OPERATOR))
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", r.text
        assert "the engine is not running" in r.json()["error"]["message"]
    page = c.get(f"/alerts/{alert_id}")
    assert "the engine is not running" in page.text and 'id="ack-form"' not in page.text
    detail = c.get(f"/api/v1/alerts/{alert_id}").json()
    assert detail["alert"]["status"] == "active" and [h["action"] for h in detail["history"]] == ["created"]


def test_webhook_ingest_maps_engine_answers(client, engine):
    ok = client.post("/api/v1/events/am", content=b'{"alerts": []}', headers={"Authorization": "Bearer hook"})
    assert ok.status_code == 202 and ok.json() == {"accepted": 1} and engine.webhooks == [("am", b'{"alerts": []}')]
    assert client.post("/api/v1/events/nope", content=b"{}").json()["error"]["code"] == "not_found"
    assert client.post("/api/v1/events/am", content=b"{}").status_code == 401
    bad = client.post("/api/v1/events/am", content=b"[1]", headers={"Authorization": "Bearer hook"})
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "body is not a JSON object"
    busy = client.post("/api/v1/events/full", content=b"{}")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert busy.json()["error"] == {"code": "unavailable", "message": "pipeline queue full (50000 waiting); retry later",
                                    "details": {"connector": "full", "retry_after": 5}}


def test_dependencies_connectors_config(client, add_alerts, db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO dependencies (device_ip, depends_on_ip) VALUES ('10.1.1.2', '10.1.1.1'),"
                     " ('10.1.2.0/24', '10.1.1.2')")
        conn.execute("INSERT INTO connectors (name, type, enabled, status, config) VALUES"
                     " ('prtg-main', 'prtg', true, 'ok', '{\"api_token\": \"********\"}')")
    first, _ = add_alerts(make_alert(device_ip="10.1.1.2", severity=Severity.CRITICAL),
                          make_alert(device_ip="10.1.2.7"))
    assert client.get("/api/v1/config").json()["hits_since"] is None
    with psycopg.connect(db_url, autocommit=True) as conn:  # two batches, as the engine writes them
        paged = Decision(first, "page-oncall-critical", Notified(("oncall-pager",)))
        store_decisions(conn, [paged] * 40)
        store_decisions(conn, [paged] * 2 + [Decision(first, "site-tags", Enriched(("tags",)))])
    deps = client.get("/api/v1/dependencies").json()
    devices = {d["device"]: d for d in deps["devices"]}
    assert len(deps["dependencies"]) == 2
    assert devices["10.1.1.2"]["worst_severity"] == "critical" and devices["10.1.1.2"]["upstreams"] == ["10.1.1.1"]
    assert devices["10.1.2.7"]["upstreams"] == ["10.1.2.0/24"] and devices["10.1.2.0/24"]["layer"] == 2
    conns = client.get("/api/v1/connectors").json()["items"]
    assert conns[0]["name"] == "prtg-main" and "config" not in conns[0]
    cfg = client.get("/api/v1/config").json()
    assert cfg["current"]["id"] == 7 and cfg["last_attempt"]["errors"][0]["line"] == 14
    # Hits come from the stored decisions: they survive reloads and restarts, and say since when.
    assert {r["name"]: r["hits"] for r in cfg["rules"]} == {"page-oncall-critical": 42, "site-tags": 1}
    assert cfg["hits_since"] is not None


def test_healthz_and_metrics(client):
    h = client.get("/healthz")
    assert h.status_code == 200 and h.json() == {"status": "ok", "database": "ok",
                                                 "engine": {"engine": "ok", "queue_depth": 3}, "reasons": []}
    client.get("/api/v1/alerts")
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(m.text)}  # the reference parser
    (requests,) = [s for s in families["opsc_http_requests"].samples
                   if s.labels == {"method": "GET", "route": "/api/v1/alerts", "status": "200"}]
    assert requests.value == 1
    assert families["opsc_http_request_duration_seconds"].type == "histogram"
    assert "process_resident_memory_bytes" in families
    assert "opsc_queue_depth 3" in m.text  # the engine's own families follow


def test_healthz_reports_a_dead_database(client_for):
    from web_fixtures import settings
    from opsconductor.web.app import create_app
    from starlette.testclient import TestClient

    app = create_app(database_url="postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1", settings=settings())
    with TestClient(app) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "failing"


def test_security_headers_on_every_kind_of_answer(client):
    for path in ("/", "/alerts", "/api/v1/alerts", "/api/v1/alerts/x", "/static/app.css", "/nope"):
        h = client.get(path).headers
        assert "script-src 'self'" in h["content-security-policy"], path
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "same-origin"


def test_openapi_lists_every_api_route(client):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    app_paths = {r.path for r in client.app.routes if getattr(r, "path", "").startswith(("/api/", "/healthz", "/metrics"))}
    assert app_paths == set(doc["paths"])
