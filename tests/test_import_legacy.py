"""opsc import-legacy: a legacy database built with the seed's own SQL (migration 020 plus a
system_settings table) is imported, and the real loader validates the tree it writes."""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.legacy import import_legacy, jinja

SERVER = os.environ.get("OPSC_LEGACY_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_8201541a698ba463.txt"
SECRETS = {"prtg_api_token": "prtg-TOKEN-c0ffee11", "prtg_passhash": "4242424242", "mcp_password": "mcp-PASS-beef22",
           "axis_password": "axis-PASS-dead33", "cam_password": "cam2-PASS-f00d44", "community": "c0mmunity-55",
           "uisp_token": "uisp-TOKEN-abba66"}


def seed_sql() -> str:
    text = SEED.read_text(encoding="utf-8")
    section = text[text.index("### 3.2 Migration SQL"):text.index("### 3.3")]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


LEGACY = """
CREATE TABLE system_settings (key VARCHAR(100) PRIMARY KEY, value TEXT, updated_at TIMESTAMPTZ DEFAULT NOW());
INSERT INTO system_settings (key, value) VALUES
  ('prtg_url', 'https://prtg.example.net/'), ('prtg_api_token', %(prtg_api_token)s), ('prtg_username', ''),
  ('prtg_passhash', ''), ('prtg_verify_ssl', 'false'), ('prtg_enabled', 'true'),
  ('mcp_url', 'https://mcp.example.net'), ('mcp_username', 'opsc'), ('mcp_password', %(mcp_password)s),
  ('mcp_enabled', 'false'), ('smtp_host', 'smtp.example.net');
UPDATE connectors SET enabled = true, config = %(axis)s::jsonb WHERE type = 'axis';
UPDATE connectors SET config = %(ubiquiti)s::jsonb WHERE type = 'ubiquiti';
UPDATE connectors SET config = %(traps)s::jsonb WHERE type = 'snmp_trap';
UPDATE connectors SET config = %(eaton)s::jsonb WHERE type = 'eaton';
INSERT INTO dependencies (device_ip, depends_on_ip, dependency_type, description) VALUES
  ('10.20.1.11', '10.20.0.1', 'network', 'camera behind the site switch'),
  ('10.20.0.1', '10.20.0.254', 'power', 'switch on the UPS');
INSERT INTO notification_rules (name, description, priority, conditions, channels, throttle_minutes) VALUES
  ('Critical power', 'page on power', 10, '{"category": "power", "severity": ["critical", "major"]}',
   '[{"type": "email", "to": "noc@example.net"}]', 15),
  ('Everything', NULL, 100, '{"weird": {"x": 1}}', '["log"]', 0);
"""


@pytest.fixture
def legacy_url():
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {SERVER}: {exc}")
    if not SEED.exists():
        pytest.skip(f"seed not found at {SEED}")
    name = f"opsc_legacy_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = SERVER.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(seed_sql())
            import json
            params = {
                **SECRETS,
                "axis": json.dumps({"username": "root", "password": SECRETS["axis_password"], "poll_interval": 30,
                                    "targets": [{"ip": "10.20.1.11", "name": "lobby"},
                                                {"host": "10.20.1.12", "password": SECRETS["cam_password"]}]}),
                "ubiquiti": json.dumps({"url": "https://uisp.example.net", "api_token": SECRETS["uisp_token"]}),
                "traps": json.dumps({"port": 1162, "community": SECRETS["community"]}),
                "eaton": json.dumps({"targets": [{"host": "10.20.0.254", "community": SECRETS["community"]}],
                                     "poll_interval": 60})}
            for statement in filter(str.strip, LEGACY.split(";\n")):
                conn.execute(statement, params if "%(" in statement else None)
        yield url
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def test_import_validates_and_keeps_everything(legacy_url, tmp_path) -> None:
    out = tmp_path / "config"
    report = import_legacy(legacy_url, out)
    result = load_tree(out, environ={})
    assert result.bundle is not None and not result.errors, [p.format() for p in result.errors]
    bundle = result.bundle
    connectors = {c.name: c for c in bundle.connectors}
    assert set(connectors) == {"prtg", "mcp", "axis-cameras", "ubiquiti-uisp", "snmp-traps", "eaton-ups"}
    prtg = connectors["prtg"]
    assert prtg.enabled and prtg.settings["url"] == "https://prtg.example.net"
    assert prtg.settings["api_token"].reference == "${env:PRTG_API_TOKEN}" and prtg.settings["tls"]["verify"] is False
    assert connectors["mcp"].settings["password"].reference == "${env:MCP_PASSWORD}" and not connectors["mcp"].enabled
    axis = connectors["axis-cameras"]
    assert [t["host"] for t in axis.settings["targets"]] == ["10.20.1.11", "10.20.1.12"] and axis.poll_interval == 30
    assert axis.settings["targets"][1]["password"].reference == "${env:AXIS_CAMERAS_TARGET1_PASSWORD}"
    assert list(connectors["snmp-traps"].settings["listen"]) == ["0.0.0.0:1162"]
    # the seed's OID maps, titles in Jinja, clears resolved
    maps = {m.pattern.text: m for m in bundle.oid_mappings}
    assert len(maps) == 9 and maps["1.3.6.1.6.3.1.1.5.3"].title == "Interface Down - {{ device_name }}"
    assert maps["1.3.6.1.6.3.1.1.5.4"].clears == ("link_down",)
    assert maps["1.3.6.1.4.1.534.1.7.5.*"].clears == ("on_battery", "low_battery")
    assert len(bundle.dependencies) == 2
    rules = {r.name: r for r in bundle.rules}
    assert set(rules) == {"critical-power", "everything"}
    # what could not be imported is said, secrets only by name
    assert {"PRTG_API_TOKEN", "MCP_PASSWORD", "AXIS_CAMERAS_PASSWORD", "UBIQUITI_UISP_API_TOKEN",
            "SNMP_TRAPS_COMMUNITY", "EATON_UPS_TARGET0_COMMUNITY"} <= set(report.variables)
    text = report.text()
    assert "Milestone VMS" in text and "Cradlepoint" in text and "Siklu" in text  # no url / no targets
    assert "weird" in text and "PRTG_API_TOKEN" in text
    blob = text + "".join(p.read_text() for p in out.rglob("*.yaml"))
    for value in SECRETS.values():
        assert value not in blob


def test_import_resolves_with_the_variables_set(legacy_url, tmp_path) -> None:
    report = import_legacy(legacy_url, tmp_path / "c")
    env = {name: "x" * 8 for name in report.variables}
    result = load_tree(tmp_path / "c", environ=env, check_secrets=True)
    assert not result.errors and not [w for w in result.warnings if "secret" in w.message.lower()]


@pytest.mark.parametrize("text,expect", [("Interface Down - {device_name}", "Interface Down - {{ device_name }}"),
                                         ("{{ device_name }} up", "{{ device_name }} up"), ("plain", "plain")])
def test_jinja(text, expect) -> None:
    assert jinja(text) == expect
