"""Fuzz over every API operation and dashboard page with raw bytes: never a 500, and every
error from an API path is the JSON envelope. Complements test_web_property.py (schemathesis, which only sends
what the OpenAPI document describes) with what a socket can send: NUL and non-ASCII bytes
in path parameters, query values, cookies, the Authorization header and the CSRF field,
invalid UTF-8, huge values, bodies that are not JSON or nested beyond any parser.
"""
from __future__ import annotations

import json
import os
import re
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from opsconductor.engine.model import Severity
from opsconductor.web.openapi import PATHS
from rawasgi import raw
from web_fixtures import ADMIN, OPERATOR, FakeEngine, make_alert

OPERATIONS = [(m.upper(), p) for p, ops in PATHS.items() for m in ops if p != "/api/v1/stream"]
PAGES = [("GET", "/"), ("GET", "/alerts"), ("GET", "/alerts/{alert_id}"), ("POST", "/alerts/{alert_id}/acknowledge"),
         ("POST", "/alerts/{alert_id}/resolve"), ("GET", "/dependencies"), ("GET", "/connectors"), ("GET", "/config"),
         ("POST", "/config/reload"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout")]
FILTERS = ["status", "severity", "category", "source_system", "device_ip", "q", "limit", "cursor", "force", "next"]
NASTY = [b"\x00", b"\xff\xfe", "é".encode(), "€".encode(), b"\xc3\x28", b"%", b"\r\n", b"9" * 5000, b"-1", "²".encode(),
         b"..", b"open", b"critical,major", b"10.0.0.1", b"a" * 300]

nasty_bytes = st.one_of(st.sampled_from(NASTY), st.binary(max_size=40),
                        st.lists(st.sampled_from(NASTY), min_size=1, max_size=3).map(b"".join))
query = st.lists(st.tuples(st.one_of(st.sampled_from(FILTERS), st.text(max_size=8)), nasty_bytes), max_size=5).map(
    lambda items: b"&".join(quote_from_bytes(k.encode("utf-8", "surrogatepass")).encode() + b"=" +
                            quote_from_bytes(v).encode() for k, v in items))
latin1 = st.binary(max_size=60).map(lambda b: bytes(c for c in b if c not in (10, 13)))  # header values: no CR/LF
cookie = st.one_of(st.just(b""), latin1.map(lambda v: b"opsc_session=" + v),
                   latin1.map(lambda v: b"opsc_csrf=" + v + b"; opsc_session=" + v[::-1]))
authorization = st.one_of(st.none(), st.just(f"Bearer {ADMIN}".encode()), st.just(f"Bearer {OPERATOR}".encode()),
                          latin1.map(lambda v: b"Bearer " + v), latin1)
body = st.one_of(st.just(b""), st.binary(max_size=200), st.sampled_from([
    b"[" * 50000 + b"]" * 50000, b'{"note": "a\\u0000b"}', b'{"note": "\\ud800"}', b'{"note": 5}', b"null",
    json.dumps({"note": "x" * 3000}).encode(), b'{"alerts": [{"status": "firing", "labels": {"alertname": "\\u0000"}}]}',
    b"token=x&csrf=%C3%A9", b"\xff" * 100]))
content_type = st.sampled_from([b"application/json", b"application/x-www-form-urlencoded", b"text/plain", b"\xff", b""])
path_param = st.one_of(st.binary(max_size=40), st.sampled_from(NASTY)).map(lambda b: quote_from_bytes(b, safe="").encode())


@pytest.mark.parametrize("method,path", OPERATIONS + PAGES, ids=[f"{m} {p}" for m, p in OPERATIONS + PAGES])
def test_raw_bytes_never_make_a_500(client_for, add_alerts, db_url, method, path):
    ids = add_alerts(make_alert(severity=Severity.CRITICAL), make_alert())
    client = client_for(engine=FakeEngine(db_url))
    calls = {"n": 0}

    @given(params=st.lists(path_param, min_size=3, max_size=3), real=st.sampled_from([None, 0, 1]), q=query, c=cookie,
           a=authorization, b=body, t=content_type)
    @hsettings(max_examples=int(os.environ.get("OPSC_FUZZ_EXAMPLES", "25")), deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(params, real, q, c, a, b, t):
        calls["n"] += 1
        names = iter(params if real is None else [ids[real].encode()] * 3)  # real alerts too: writes reach the store
        raw_path = re.sub(r"\{[^}]+\}", lambda _: next(names).decode("latin-1"), path).encode("latin-1")
        headers = [(b"content-type", t)] + ([(b"cookie", c)] if c else []) + ([(b"authorization", a)] if a else [])
        answer = raw(client, method, raw_path, q, headers, b if method != "GET" else b"")
        assert answer["status"] < 500, (method, raw_path, q[:200], headers, b[:100], answer)
        if answer["status"] >= 400 and raw_path.startswith(b"/api/"):
            assert answer["headers"][b"content-type"].startswith(b"application/json"), answer
            err = json.loads(answer["body"])["error"]
            assert set(err) == {"code", "message", "details"} and len(json.dumps(err)) < 5000, err

    run()
    assert calls["n"] > 0
