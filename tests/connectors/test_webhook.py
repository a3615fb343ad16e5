"""Inbound webhooks: credentials, body checks, the generic mapping and Alertmanager bodies."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
import yaml

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.webhook.normalizer import normalize
from opsconductor.engine.connectors.webhook.receiver import accept, strip_port
from opsconductor.engine.model import Severity
from opsconductor.engine.pipeline.context import ConfigView

TOKEN = "whk-TOKEN-5e6f7a8b"
KEY = "whk-HMAC-9c0d1e2f"
NOW = datetime(2025, 6, 3, 10, 0, tzinfo=timezone.utc)

AM_BODY = {
    "version": "4", "groupKey": "{}:{alertname=\"HighCPU\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "opsconductor", "groupLabels": {"alertname": "HighCPU"},
    "commonLabels": {"alertname": "HighCPU", "job": "node"}, "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "HighCPU", "instance": "10.20.5.7:9100", "severity": "critical"},
         "annotations": {"summary": "CPU above 95%", "description": "5m load is high"},
         "startsAt": "2025-06-03T09:55:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus/graph", "fingerprint": "a1b2c3d4e5f60708"},
        {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db01.example.net:9100", "severity": "warning"},
         "annotations": {"summary": "Disk almost full"}, "startsAt": "2025-06-03T09:56:00Z",
         "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "0f0e0d0c0b0a0908"},
    ],
}


def setup(tmp_path, monkeypatch, **conf):
    monkeypatch.setenv("OPSC_TEST_WH_TOKEN", TOKEN)
    monkeypatch.setenv("OPSC_TEST_WH_HMAC", KEY)
    folder = tmp_path / "connectors.d"
    folder.mkdir(exist_ok=True)
    data = {"name": "hook", "type": "webhook", **conf}
    (folder / "hook.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    bundle = load_bundle(tmp_path)
    return bundle.connectors[0], ConfigView(bundle)


def sign(body: bytes, key: str = KEY) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def am(tmp_path, monkeypatch):
    return setup(tmp_path, monkeypatch, format="alertmanager", auth={"bearer_token": "${env:OPSC_TEST_WH_TOKEN}"})


def test_alertmanager_firing_then_resolved(am) -> None:
    config, view = am
    body = json.dumps(AM_BODY).encode()
    events = accept(config, body, {"Authorization": f"Bearer {TOKEN}"}, lambda: NOW)
    cpu, disk = (normalize(e, view)[0] for e in events)
    assert (cpu.alert_type, cpu.severity, cpu.device_ip, cpu.device_name) == ("high_cpu", Severity.CRITICAL, "10.20.5.7", "10.20.5.7")
    assert cpu.title == "CPU above 95% - 10.20.5.7" and cpu.message == "5m load is high"
    assert cpu.occurred_at == datetime(2025, 6, 3, 9, 55, tzinfo=timezone.utc)
    assert cpu.source_alert_id == cpu.resource_key == "a1b2c3d4e5f60708" and cpu.custom_fields["labels"]["job"] == "node"
    assert (disk.device_ip, disk.device_name, disk.severity) == (None, "db01.example.net", Severity.WARNING)
    resolved = json.loads(body)
    resolved["alerts"] = [dict(AM_BODY["alerts"][0], status="resolved", endsAt="2025-06-03T10:05:00Z")]
    (event,) = accept(config, json.dumps(resolved).encode(), {"authorization": f"Bearer {TOKEN}"}, lambda: NOW)
    clear = normalize(event, view)[0]
    assert clear.is_clear and clear.severity is Severity.CLEAR and clear.clears == ("high_cpu",)
    assert clear.fingerprint == cpu.fingerprint
    assert clear.occurred_at == datetime(2025, 6, 3, 10, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("conf, labels, category", [
    ({}, {"category": "network"}, "network"),  # the default label
    ({}, {}, "application"),  # no label, no connector category
    ({}, {"category": "Power"}, "power"),
    ({}, {"category": "kitchen"}, "application"),  # not one of ours
    ({"category": "compute"}, {}, "compute"),  # the connector's category
    ({"category_label": "team_area"}, {"team_area": "storage", "category": "network"}, "storage"),
])
def test_alertmanager_category_comes_from_a_label(tmp_path, monkeypatch, conf, labels, category) -> None:
    config, view = setup(tmp_path, monkeypatch, format="alertmanager", **conf)
    body = {**AM_BODY, "alerts": [{**AM_BODY["alerts"][0], "labels": {**AM_BODY["alerts"][0]["labels"], **labels}}]}
    (event,) = accept(config, json.dumps(body).encode(), {}, lambda: NOW)
    (alert,) = normalize(event, view)
    assert alert.category == category


@pytest.mark.parametrize("headers,expect", [
    ({}, "missing bearer token"), ({"authorization": "Bearer nope"}, "wrong bearer token"),
    ({"authorization": f"Basic {TOKEN}"}, "missing bearer token")])
def test_bearer_refused(am, headers, expect) -> None:
    config, _ = am
    with pytest.raises(PermissionError) as info:
        accept(config, json.dumps(AM_BODY).encode(), headers, lambda: NOW)
    assert expect in str(info.value) and TOKEN not in str(info.value)


@pytest.mark.parametrize("body,expect", [
    (b"<html>", "not JSON"), (b"\xff\xfe", "not UTF-8"), (b'{"alerts": [' + b"1" * 5000 + b"]}", "cannot be read"), (b"[]", "$: expected the Alertmanager webhook object"), (b"{}", "$.alerts: expected a list"),
    (json.dumps({"alerts": [{"status": "pending", "labels": {"alertname": "X"}}]}).encode(), "$.alerts[0].status"),
    (json.dumps({"alerts": [{"status": "firing", "labels": {"instance": "h"}}]}).encode(), "$.alerts[0].labels.alertname"),
    (json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": 5}}]}).encode(), "$.alerts[0].labels"),
    (json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": 5}]}).encode(), "$.alerts[0].startsAt"),
])
def test_bad_bodies_name_the_field(am, body, expect) -> None:
    config, _ = am
    with pytest.raises(ValueError) as info:
        accept(config, body, {"authorization": f"Bearer {TOKEN}"}, lambda: NOW)
    assert expect in str(info.value)


@pytest.mark.parametrize("body,expect", [
    (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    (b'{"alerts": [{"status": "firing", "labels": {"alertname": "X\\u0000"}}]}', "NUL"),
    (b'{"alerts": [{"status": "firing", "labels": {"alertname": "\\ud800"}}]}', "surrogate"),
])
def test_bodies_postgresql_cannot_store_are_refused_at_the_door(am, body, expect) -> None:
    config, _ = am
    with pytest.raises(ValueError) as info:
        accept(config, body, {"authorization": f"Bearer {TOKEN}"}, lambda: NOW)
    assert expect in str(info.value)
    pair = b'{"alerts": [{"status": "firing", "labels": {"alertname": "\\ud83d\\ude00 up"}}]}'  # a pair is fine
    assert accept(config, pair, {"authorization": f"Bearer {TOKEN}"}, lambda: NOW)


def test_body_too_large(tmp_path, monkeypatch) -> None:
    config, _ = setup(tmp_path, monkeypatch, max_body_bytes=1024, auth={"bearer_token": "${env:OPSC_TEST_WH_TOKEN}"})
    with pytest.raises(ValueError, match="larger than max_body_bytes"):
        accept(config, b" " * 2048, {"authorization": f"Bearer {TOKEN}"}, lambda: NOW)


GENERIC = {"mapping": {"alert_type": "event.kind", "title": "event.summary", "severity": "event.level",
                       "device_ip": "host.ip", "device_name": "host.name", "resource_key": "event.resource",
                       "source_alert_id": "id", "clear_when": "event.state", "occurred_at": "at",
                       "category": "event.area", "message": "event.detail"},
           "auth": {"hmac_secret": "${env:OPSC_TEST_WH_HMAC}", "hmac_header": "X-Signature"}}


def _generic(i: int, state: str = "open", level: str = "error") -> dict:
    return {"id": f"ev-{i}", "at": "2025-06-03T09:00:00Z", "host": {"ip": "10.9.0.4", "name": "gw-4"},
            "event": {"kind": "PumpFailure", "summary": "Pump stopped", "level": level, "resource": f"pump{i}",
                      "state": state, "area": "environment", "detail": "no flow"}}


def test_generic_hmac_list_and_clear(tmp_path, monkeypatch) -> None:
    config, view = setup(tmp_path, monkeypatch, **GENERIC, severity_map={"PumpFailure": "critical"})
    body = json.dumps([_generic(1), _generic(2, level="warn")]).encode()
    one, two = (normalize(e, view)[0] for e in accept(config, body, {"X-Signature": sign(body)}, lambda: NOW))
    assert (one.alert_type, one.severity, one.category, one.resource_key) == ("pump_failure", Severity.CRITICAL, "environment", "pump1")
    assert (one.device_ip, one.device_name, one.source_alert_id) == ("10.9.0.4", "gw-4", "ev-1")
    assert one.title == "Pump stopped - gw-4" and one.message == "no flow"
    body = json.dumps(_generic(1, state="resolved")).encode()
    (event,) = accept(config, body, {"x-signature": sign(body)}, lambda: NOW)
    clear = normalize(event, view)[0]
    assert clear.is_clear and clear.clears == ("pump_failure",) and clear.fingerprint == one.fingerprint
    assert two.severity is Severity.CRITICAL  # severity_map keyed by the alert type
    # without the override: the common words
    config2, view2 = setup(tmp_path, monkeypatch, **GENERIC)
    body = json.dumps([_generic(1, level="warn"), _generic(2, level="error"), _generic(3, level="bogus")]).encode()
    got = [normalize(e, view2)[0].severity for e in accept(config2, body, {"X-Signature": sign(body)}, lambda: NOW)]
    assert got == [Severity.WARNING, Severity.MAJOR, Severity.WARNING]


@pytest.mark.parametrize("headers,expect", [
    ({}, "missing signature header X-Signature"), ({"X-Signature": "sha1=abc"}, "must be sha256"),
    ({"X-Signature": "sha256=" + "0" * 64}, "does not match")])
def test_hmac_refused(tmp_path, monkeypatch, headers, expect) -> None:
    config, _ = setup(tmp_path, monkeypatch, **GENERIC)
    body = json.dumps(_generic(1)).encode()
    with pytest.raises(PermissionError) as info:
        accept(config, body, headers, lambda: NOW)
    assert expect in str(info.value) and KEY not in str(info.value)


def test_hmac_default_header_and_tampered_body(tmp_path, monkeypatch) -> None:
    config, _ = setup(tmp_path, monkeypatch, mapping={"title": "t"}, auth={"hmac_secret": "${env:OPSC_TEST_WH_HMAC}"})
    body = b'{"t": "x"}'
    assert len(accept(config, body, {"X-Hub-Signature-256": sign(body)}, lambda: NOW)) == 1
    with pytest.raises(PermissionError):
        accept(config, b'{"t": "y"}', {"X-Hub-Signature-256": sign(body)}, lambda: NOW)


def test_unset_secret_refuses_everything(tmp_path, monkeypatch) -> None:
    config, _ = setup(tmp_path, monkeypatch, mapping={"title": "t"}, auth={"bearer_token": "${env:OPSC_TEST_WH_UNSET}"})
    with pytest.raises(PermissionError, match="not available"):
        accept(config, b'{"t": "x"}', {"authorization": "Bearer "}, lambda: NOW)


@pytest.mark.parametrize("body,expect", [
    (b'"text"', "$: expected an object"), (b"[1]", "$[0]: expected an object"), (b"[]", "empty list"),
    (b'{"event": {"kind": {"a": 1}}}', "$.event.kind (mapping.alert_type)"), (b'{"other": 1}', "no alert_type and no title")])
def test_generic_shape_errors(tmp_path, monkeypatch, body, expect) -> None:
    config, _ = setup(tmp_path, monkeypatch, **GENERIC)
    with pytest.raises(ValueError) as info:
        accept(config, body, {"X-Signature": sign(body)}, lambda: NOW)
    assert expect in str(info.value)


@pytest.mark.parametrize("text,host", [("10.0.0.5:9100", "10.0.0.5"), ("[2001:db8::1]:9100", "2001:db8::1"),
                                       ("node-1:9100", "node-1"), ("2001:db8::1", "2001:db8::1"), ("plain", "plain")])
def test_strip_port(text, host) -> None:
    assert strip_port(text) == host
