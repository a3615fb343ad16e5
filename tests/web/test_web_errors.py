"""The error envelope, pinned: every error answers {"error": {"code", "message", "details"}}."""
from __future__ import annotations

import pytest

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
