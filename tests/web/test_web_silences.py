"""Silences over HTTP: the listing beside the config's, ad-hoc ones created and ended by
an operator, refused for a viewer, bad bodies answered with the envelope."""
from __future__ import annotations

from web_fixtures import OPERATOR, VIEWER, bearer, make_alert


def test_adhoc_silence_lifecycle(client, engine, add_alerts):
    (held,) = add_alerts(make_alert(device_ip="10.20.1.1"))
    engine.held = {held: "adhoc-1"}
    body = {"matchers": {"device_ip": "10.20.1.1"}, "duration": "2h", "comment": "switch swap CHG-7"}
    made = client.post("/api/v1/silences", json=body, headers=bearer(OPERATOR))
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "adhoc-1" and made.json()["created_by"] == "otto"
    listing = client.get("/api/v1/silences").json()
    (adhoc,) = [s for s in listing["active"] if s["origin"] == "adhoc"]
    assert adhoc["matchers"] == ["device_ip = 10.20.1.1"] and adhoc["holding"][0]["id"] == held
    (nightly,) = listing["recurring"]
    assert nightly["source"] == "rules/silences.yaml:4" and nightly["matchers"] == ["site = north"]
    page = client.get("/silences").text
    assert "adhoc-1" in page and "switch swap CHG-7" in page and "rules/silences.yaml:4" in page
    assert "silenced by adhoc-1" in client.get("/alerts").text

    ended = client.delete("/api/v1/silences/1", headers=bearer(OPERATOR))
    assert ended.status_code == 200 and ended.json()["ended_by"] == "otto"
    after = client.get("/api/v1/silences").json()
    assert [s["name"] for s in after["ended"]] == ["adhoc-1"] and not [s for s in after["active"] if s["id"]]
    again = client.delete("/api/v1/silences/1", headers=bearer(OPERATOR))
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict", again.text
    assert "has ended already: it was ended by otto" in again.json()["error"]["message"]
    missing = client.delete("/api/v1/silences/999", headers=bearer(OPERATOR))
    assert missing.status_code == 404 and missing.json()["error"]["details"] == {"silence_id": 999}


def test_silences_need_an_operator_and_a_good_body(client):
    body = {"matchers": {"device_ip": "10.0.0.5"}, "duration": "1h", "comment": "x"}
    assert client.post("/api/v1/silences", json=body, headers=bearer(VIEWER)).status_code == 403
    assert client.post("/api/v1/silences", json=body).status_code == 401
    for bad, says in [({**body, "matchers": {"devcie_ip": "x"}}, "matchers.devcie_ip: unknown field"),
                      ({**body, "matchers": {"title": {"regex": "("}}}, "matchers.title.regex"),
                      ({**body, "duration": "forever"}, "duration:"),
                      ({**body, "duration": "90d"}, "at most 31 days"),
                      ({**body, "comment": ""}, "comment is required"),
                      ({**body, "extra": 1}, "unknown field(s): extra")]:
        answer = client.post("/api/v1/silences", json=bad, headers=bearer(OPERATOR))
        assert answer.status_code == 400 and says in answer.json()["error"]["message"], answer.text
