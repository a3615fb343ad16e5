"""Dashboard pages in-process: rendering, login session, CSRF, operator actions."""
from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest
from markupsafe import escape

from opsconductor.engine.explain import explain_text
from opsconductor.engine.store.alerts import get_alert
from opsconductor.engine.events import Decision, decode
from opsconductor.engine.store.decisions import list_decisions
from opsconductor.engine.store.direct import store_decisions
from opsconductor.engine.store.jsonb import jsonb

from web_fixtures import ADMIN, OPERATOR, VIEWER, make_alert
from web_demo_data import seed


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def login(client, token: str):
    page = client.get("/login")
    return client.post("/login", data={"token": token, "csrf": csrf_of(page.text), "next": "/alerts"},
                       follow_redirects=False)


@pytest.mark.parametrize("path", ["/", "/alerts", "/alerts?status=&severity=critical&severity=major",
                                  "/dependencies", "/connectors", "/config", "/login"])
def test_pages_render_with_demo_data(client, db_url, path):
    seed(db_url)
    r = client.get(path)
    assert r.status_code == 200 and "<script" in r.text and "onclick" not in r.text and "style=" not in r.text


def test_connectors_page_lists_the_connectors(client, db_url):
    seed(db_url)
    html = client.get("/connectors").text
    rows = re.findall(r'<tr class="cs-[a-z]+[^"]*">\s*<td><b>([^<]+)</b>', html)
    assert rows == ["cradlepoint", "eaton-ups", "milestone-vms", "prtg-main", "snmp-traps"]
    assert "5 configured" in html and "HTTP 503 from recording server rs-02" in html


def test_alert_page_shows_trail_and_correlation(client, db_url):
    ids = seed(db_url)
    html = client.get(f"/alerts/{ids['switch']}").text
    assert "camera-under-switch" in html and "6 alerts correlated under this one" in html
    assert "page-oncall-critical" in html and "SMTP 451" in html
    cam = client.get(f"/alerts/{ids['camera']}").text
    assert "Suppressed under the root cause" in cam and ids["switch"] in cam


def test_alert_page_and_explain_say_the_same_of_each_decision_and_history_row(client, db_url, add_alerts):
    """One sentence per row (engine/events.py): the page, the API and `opsc explain` show it,
    for the rows this version writes and those older versions wrote."""
    (alert_id,) = add_alerts(make_alert())
    rows = json.loads((Path(__file__).parents[1] / "fixtures" / "decision_details.json").read_text())
    with psycopg.connect(db_url, autocommit=True) as conn:
        for r in rows["current"]:  # written as the engine writes them, one batch each (a batch keeps one dedup)
            store_decisions(conn, [Decision(alert_id, "rule-x", decode(r["stage"], r["detail"]))])
        for r in rows["legacy"]:  # as older versions wrote them: by hand, this version never would
            conn.execute("INSERT INTO alert_decisions (alert_id, stage, rule, detail) VALUES (%s, %s, 'rule-x', %s)",
                         (alert_id, r["stage"], jsonb(r["detail"])))
        record, trail = get_alert(conn, alert_id), list_decisions(conn, alert_id)
    text = explain_text(record, trail, [])
    html = client.get(f"/alerts/{alert_id}").text
    api = client.get(f"/api/v1/alerts/{alert_id}").json()
    sentences = [d.describe() for d in trail]
    assert sentences[:len(rows["current"])] == [r["describe"] for r in rows["current"]]
    assert [d["text"] for d in api["decisions"]] == sentences
    for sentence in sentences + [h.describe() for h in record.history]:
        assert sentence in text and str(escape(sentence)) in html


def test_login_sets_a_strict_httponly_session(client):
    r = login(client, OPERATOR)
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("opsc_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert OPERATOR not in cookie
    assert "otto" in client.get("/").text


def test_login_with_wrong_token(client):
    r = login(client, "wrong")
    assert r.status_code == 401 and "not known" in r.text


def test_login_refused_without_csrf(client):
    client.get("/login")
    r = client.post("/login", data={"token": OPERATOR}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text


def test_operator_acknowledges_through_the_form_and_history_says_who(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    login(client, OPERATOR)
    token = csrf_of(client.get(f"/alerts/{alert_id}").text)
    r = client.post(f"/alerts/{alert_id}/acknowledge", data={"note": "looking", "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/alerts/{alert_id}?done=acknowledged"
    history = client.get(f"/api/v1/alerts/{alert_id}").json()["history"]
    assert history[-1]["action"] == "acknowledged" and history[-1]["user_name"] == "otto"
    assert history[-1]["notes"] == "looking"


def test_form_post_without_csrf_is_refused(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    login(client, OPERATOR)
    for data in ({"note": "x"}, {"note": "x", "csrf": "0" * 64}):
        r = client.post(f"/alerts/{alert_id}/acknowledge", data=data, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text
    assert client.get(f"/api/v1/alerts/{alert_id}").json()["alert"]["status"] == "active"


def test_viewer_session_cannot_acknowledge(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    login(client, VIEWER)
    html = client.get(f"/alerts/{alert_id}").text
    assert "need the operator role" in html and 'id="ack"' not in html
    r = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": csrf_of(html)}, follow_redirects=False)
    assert r.status_code == 403 and "operator role" in r.text


def test_session_cookie_does_not_authorize_json_writes(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    login(client, OPERATOR)
    assert client.post(f"/api/v1/alerts/{alert_id}/acknowledge").status_code == 401


def test_tampered_session_is_ignored(client):
    login(client, VIEWER)
    value = client.cookies.get("opsc_session")
    body, mac = value.rsplit(".", 1)
    client.cookies.clear()
    client.cookies.set("opsc_session", body + "." + mac[:-1] + ("1" if mac[-1] == "0" else "0"))
    assert "vera" not in client.get("/").text


def test_admin_reloads_from_the_config_page(client, engine):
    login(client, ADMIN)
    token = csrf_of(client.get("/config").text)
    r = client.post("/config/reload", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/config?reloaded=applied"
    assert engine.reloads == ["admin (OPSC_ADMIN_TOKEN)"]


def test_logout(client):
    login(client, OPERATOR)
    token = csrf_of(client.get("/").text)
    client.post("/logout", data={"csrf": token})
    assert "otto" not in client.get("/").text


def test_login_next_stays_on_site(client):
    page = client.get("/login")
    r = client.post("/login", data={"token": OPERATOR, "csrf": csrf_of(page.text), "next": "//evil.example/x"},
                    follow_redirects=False)
    assert r.headers["location"] == "/"


def test_topology_draws_the_suppression_path_the_engine_used(client, db_url):
    ids = seed(db_url)
    html = client.get("/dependencies").text
    # cameras → their subnet → the access switch: the path; the switch's UPS feed is not on it.
    assert 'class="edge path" data-from="10.20.1.21" data-to="10.20.1.0/24"' in html
    assert 'class="edge path" data-from="10.20.1.0/24" data-to="10.20.1.1"' in html
    assert 'class="edge" data-from="10.20.1.1" data-to="10.20.9.10"' in html
    paths = re.search(r'<section class="panel" id="paths".*?</section>', html, re.S).group(0)
    assert "cam-north-01" in paths and "10.20.1.21" in paths and "sw-access-north" in paths
    devices = {d["device"]: d for d in client.get("/api/v1/dependencies").json()["devices"]}
    assert devices["10.20.1.21"]["suppressed_under"] == ["10.20.1.1"]
    assert devices["10.20.0.3"]["name"] == "core-sw-south"  # named from its alerts
    assert ids["switch"]


def test_a_page_of_folded_children_is_topped_up_from_the_next(client, add_alerts, db_url):
    """30 children newer than their root fold under it; the first page still shows the root
    and the unrelated alerts around it, not 10 empty rows."""
    import psycopg
    from datetime import timedelta

    from opsconductor.engine.model import Status
    from opsconductor.engine.store.direct import change_stored
    from web_fixtures import T0

    older = add_alerts(*(make_alert(title=f"other {i}", received_at=T0 - timedelta(minutes=10 + i)) for i in range(3)))
    (root,) = add_alerts(make_alert(title="site1-switch unreachable", device_name="site1-switch",
                                    received_at=T0 - timedelta(minutes=5)))
    kids = add_alerts(*(make_alert(category="video", received_at=T0 + timedelta(seconds=i)) for i in range(30)))
    with psycopg.connect(db_url, autocommit=True) as conn:
        for k in kids:
            change_stored(conn, k, "suppressed", Status.SUPPRESSED, correlated_to_id=root,
                          correlation_rule="dependency:network")
    html = client.get("/alerts?status=open&limit=10").text
    top = re.sub(r'<tr class="group".*?</details>\s*</td></tr>', "", html, flags=re.S)  # the groups' own rows out
    shown = re.findall(r'<tr class="row [^"]*" data-id="([^"]+)"', top)
    assert shown == [root, *older]
    assert "site1-switch — 30 suppressed: 30 video" in html
    flat = client.get("/alerts?status=suppressed&limit=10").text  # suppressed alone: flat, paged
    assert len(re.findall(r'<tr class="row ', flat)) == 10 and 'rel="next"' in flat
