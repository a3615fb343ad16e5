"""The error envelope, pinned: every error answers {"error": {"code", "message", "details"}}."""
from __future__ import annotations

import pytest

from rawasgi import raw
from web_fixtures import ADMIN, OPERATOR, FakeEngine, bearer, make_alert, new_id


def envelope(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert "Traceback" not in r.text
    return body["error"]


def test_404_unknown_alert_and_path(client):
    assert envelope(client.get(f"/api/v1/alerts/{new_id()}"), 404, "not_found")["details"]["alert_id"]
    envelope(client.get("/api/v1/alerts/not-a-uuid"), 404, "not_found")
    envelope(client.post(f"/api/v1/alerts/{new_id()}/resolve", headers=bearer(OPERATOR)), 404, "not_found")
    envelope(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_409_transition_not_allowed(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    assert client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=bearer(OPERATOR)).status_code == 200
    err = envelope(client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=bearer(OPERATOR)), 409, "conflict")
    assert err["details"] == {"alert_id": alert_id, "status": "resolved", "action": "acknowledge"}
    envelope(client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=bearer(OPERATOR)), 409, "conflict")


def test_413_body_too_large(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    big = b'{"note": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    err = envelope(client.post(f"/api/v1/alerts/{alert_id}/acknowledge", content=big, headers=bearer(OPERATOR)),
                   413, "payload_too_large")
    assert err["details"] == {"limit_bytes": 1024 * 1024}
    envelope(client.post("/api/v1/events/am", content=big), 413, "payload_too_large")

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"y" * 65536

    envelope(client.post("/api/v1/events/am", content=chunks()), 413, "payload_too_large")


@pytest.mark.parametrize("params,parameter", [({"status": "bogus"}, "status"), ({"severity": "loud"}, "severity"),
                                              ({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"),
                                              ({"cursor": "garbage"}, "cursor")])
def test_400_bad_query(client, params, parameter):
    assert envelope(client.get("/api/v1/alerts", params=params), 400, "bad_request")["details"]["parameter"] == parameter


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"note": 5}', b'{"nope": 1}'])
def test_400_bad_body(client, add_alerts, body):
    (alert_id,) = add_alerts(make_alert())
    envelope(client.post(f"/api/v1/alerts/{alert_id}/acknowledge", content=body, headers=bearer(OPERATOR)),
             400, "bad_request")


def test_401_403_405(client):
    envelope(client.post("/api/v1/config/reload"), 401, "unauthorized")
    envelope(client.post("/api/v1/config/reload", headers=bearer(OPERATOR)), 403, "forbidden")
    envelope(client.delete("/api/v1/alerts"), 405, "method_not_allowed")


class BrokenEngine(FakeEngine):
    def reload(self, actor: str) -> dict:
        raise RuntimeError("secret-internal-detail")


def test_500_is_an_envelope_without_traceback(client_for):
    c = client_for(engine=BrokenEngine())
    r = c.post("/api/v1/config/reload", headers=bearer(ADMIN))
    err = envelope(r, 500, "internal")
    assert "secret-internal-detail" not in r.text and err["details"] == {}
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


def test_pages_render_errors_as_pages(client):
    r = client.get("/alerts/" + new_id())
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "not_found" not in r.text and "not found" in r.text


# --------------------------------------------------------------------------- bad input is a 4xx


def raw_envelope(answer, status: int) -> dict:
    import json
    assert answer["status"] == status, answer
    assert answer["headers"][b"content-type"].startswith(b"application/json")
    err = json.loads(answer["body"])["error"]
    assert set(err) == {"code", "message", "details"} and len(err["message"]) < 600
    return err


@pytest.mark.parametrize("query", [b"q=a%00b", b"category=%00", b"device_ip=10.0.0.1%00", b"source_system=x%00y",
                                   b"status=open&q=%00", b"%00=1"])
def test_a_nul_in_a_filter_is_a_400_naming_the_parameter(client, query):
    err = raw_envelope(raw(client, "GET", b"/api/v1/alerts", query), 400)
    assert err["code"] == "bad_request" and "NUL" in err["message"] and "parameter" in err["details"]
    page = raw(client, "GET", b"/alerts", query)  # the page shows the same refusal as a page
    assert page["status"] == 400 and page["headers"][b"content-type"].startswith(b"text/html")


def test_a_huge_query_string_or_limit_is_refused(client):
    err = raw_envelope(raw(client, "GET", b"/api/v1/alerts", b"q=" + b"x" * 20000), 414)
    assert err["code"] == "uri_too_long" and err["details"] == {"limit_bytes": 8192}
    for limit in (b"9" * 5000, "²".encode(), b"-1", b"1e3"):  # 5,000 digits: int() would refuse to read it
        err = raw_envelope(raw(client, "GET", b"/api/v1/alerts", b"limit=" + limit), 400)
        assert err["details"]["parameter"] == "limit" and len(err["details"]["value"]) <= 40


@pytest.mark.parametrize("cookie", ["opsc_session=\xe9\xe9.\xe9", "opsc_session=abc.\xff\xfe", "opsc_session=\x00.\x00",
                                    "opsc_session=" + "é" * 3000 + "." + "a" * 64, "opsc_csrf=\xe9; opsc_session=."])
def test_a_non_ascii_cookie_is_not_a_session(client, cookie):
    header = cookie.encode("latin-1")
    assert raw(client, "GET", b"/api/v1/alerts", headers=[(b"cookie", header)])["status"] == 200  # public reading
    err = raw_envelope(raw(client, "POST", b"/api/v1/config/reload", headers=[(b"cookie", header)]), 401)
    assert err["code"] == "unauthorized"
    assert raw(client, "GET", b"/", headers=[(b"cookie", header)])["status"] == 200


@pytest.mark.parametrize("csrf", ["\xe9", "é" * 64, "\x00", "a" * 100000])
def test_a_non_ascii_csrf_field_is_a_403(client, csrf):
    from urllib.parse import quote
    body = f"token={ADMIN}&csrf={quote(csrf)}".encode()
    answer = raw(client, "POST", b"/login", body=body, headers=[
        (b"content-type", b"application/x-www-form-urlencoded"), (b"cookie", b"opsc_csrf=" + b"a" * 43)])
    assert answer["status"] == 403 and b"CSRF" in answer["body"]
    answer = raw(client, "POST", b"/login", body=body, headers=[  # a non-ASCII nonce cookie as well
        (b"content-type", b"application/x-www-form-urlencoded"), (b"cookie", "opsc_csrf=\xe9\xe9".encode("latin-1"))])
    assert answer["status"] == 403


def test_bad_bodies_and_headers_are_4xx(client, add_alerts):
    (alert_id,) = add_alerts(make_alert())
    path = f"/api/v1/alerts/{alert_id}/acknowledge".encode()
    auth = (b"authorization", f"Bearer {OPERATOR}".encode())
    for body in (b"[" * 100000 + b"]" * 100000, b'{"note": "a\\u0000b"}', b"\xff\xfe{}", b'{"note": "\\ud800"}'):
        answer = raw(client, "POST", path, headers=[auth], body=body)
        assert 400 <= answer["status"] < 500, (body[:20], answer)
    raw_envelope(raw(client, "POST", b"/api/v1/events/am", body=b"[" * 100000 + b"]" * 100000), 401)
    for length in (b"9" * 5000, "²".encode(), b"-5"):  # a Content-Length no one can read
        answer = raw(client, "POST", path, headers=[auth, (b"content-length", length)], body=b"{}")
        assert answer["status"] < 500, answer
    for value in ("Bearer \xe9\xff".encode("latin-1"), b"Bearer \x00", b"Basic abc", b"Bearer " + b"x" * 100000):
        raw_envelope(raw(client, "GET", b"/api/v1/alerts", headers=[(b"authorization", value)]), 401)


@pytest.mark.parametrize("path", [b"/api/v1/alerts/%ff%fe", b"/api/v1/alerts/%00", b"/alerts/%c3%28",
                                  b"/api/v1/alerts/" + b"a" * 10000, b"/%ff/../etc/passwd"])
def test_odd_paths_are_4xx(client, path):
    answer = raw(client, "GET", path)
    assert 400 <= answer["status"] < 500, answer


def test_an_unknown_query_parameter_on_the_api_is_a_400_naming_it(client) -> None:
    r = client.get("/api/v1/alerts?severty=critical&status=open")  # a typo: would silently list every alert
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "bad_request" and error["details"]["unknown"] == ["severty"]
    assert "severity" in error["details"]["allowed"] and "severty" in error["message"]
    assert client.get("/api/v1/alerts?severity=critical&status=open&limit=5").status_code == 200
    assert client.get("/api/v1/dependencies?x=1").json()["error"]["details"]["unknown"] == ["x"]
    assert client.get("/healthz?verbose=1").status_code == 400
    assert client.get("/alerts?whatever=1").status_code == 200  # pages are for people: not refused
    # a write is not refused for a parameter of its sender's: an inbound webhook never loses events to it
    posted = client.post("/api/v1/events/nope?source=monitor", content=b"{}")
    assert "unknown query parameter" not in posted.text
