"""`opsc test`, `opsc validate` and `opsc explain` load what they use and no more: no database
driver, web server or SNMP engine for rule tests, and no connector code or HTTP client for a
tree whose tests do not poll (docs/config.md, "How fast `opsc test` is"). Startup is most of
`opsc test`'s time, so these guard it, by what a fresh interpreter holds after the command (never
by timing)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from opsconductor.engine.config.loader import load_bundle

ROOT = Path(__file__).resolve().parents[2]

# Run the command as `opsc` does, then list every module the interpreter holds.
PROBE = """
import contextlib, io, json, sys
from opsconductor.engine.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "output": out.getvalue(), "modules": sorted(sys.modules)}))
"""

# What serve needs and the offline commands do not (each costs 0.03-0.1 s to import).
SERVE_ONLY = {"psycopg", "psycopg_pool", "pysnmp", "pyasn1", "cryptography", "starlette", "uvicorn", "uvloop",
              "aiohttp", "watchfiles", "prometheus_client"}
POLLING = {"httpx", "asyncio"}  # the polled connectors' clients and their event loop

NO_POLLS = """
tests:
  - name: a webhook body, a v2c trap, an alert and a poller's event, none polled
    events:
      - webhook:
          connector: monitoring
          body: {host: 10.20.0.1, check: device_down, severity: major, category: network, state: down}
      - trap: {oid: 1.3.6.1.6.3.1.1.5.3, source: 10.20.0.1, varbinds: [{oid: 1.3.6.1.2.1.2.2.1.1.3, value: 3}]}
      - at: 1m
        alert: {alert_type: on_battery, category: power, severity: critical, device_ip: 10.20.0.5}
      - connector: eaton-ups  # an SNMP poller's event, given to its normalizer: not its poller
        payload:
          state: raise
          key: ups7.example.net|low_battery|
          item: {alert_type: low_battery, host: ups7.example.net, port: 161, target: ups7.example.net, text: Battery low}
    expect:
      alerts:
        - {count: 1, fields: {alert_type: device_down}}
        - {count: 1, fields: {alert_type: link_down}}
        - {count: 1, fields: {alert_type: on_battery}}
        - {count: 1, fields: {alert_type: low_battery, device_name: ups7.example.net}}
"""


def run_cli(*argv: str) -> tuple[dict, set[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    return result, {m.split(".")[0] for m in result["modules"]}


def polled_connectors(modules: list[str]) -> list[str]:
    return [m for m in modules if m.startswith("opsconductor.engine.connectors.")
            and m.rsplit(".", 1)[1] in ("connector", "poller", "rest", "http", "base", "session")]


def test_the_default_tree_runs_every_kind_of_input_without_the_serve_only_modules() -> None:
    steps = [spec for test in load_bundle(ROOT).tests for spec in test.events]
    assert any("poll" in s for s in steps) and any("trap" in s for s in steps)  # so the check below means something
    result, loaded = run_cli("test", "--config", str(ROOT))
    assert result["code"] == 0 and " 0 failed" in result["output"]
    assert loaded & SERVE_ONLY == set()
    # A poll test loads its connector's module from the registry, when it polls.
    assert "opsconductor.engine.connectors.prtg.connector" in result["modules"]
    assert "opsconductor.engine.connectors.snmp.poller" in result["modules"]
    assert "opsconductor.engine.connectors.snmp.session" not in result["modules"]  # pysnmp's side: the wire


def test_a_tree_without_poll_tests_loads_no_connector_code(tmp_path: Path) -> None:
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    shutil.rmtree(tmp_path / "rules" / "tests")
    (tmp_path / "rules" / "tests").mkdir()
    (tmp_path / "rules" / "tests" / "no-polls.yaml").write_text(textwrap.dedent(NO_POLLS))
    result, loaded = run_cli("test", "--config", str(tmp_path))
    assert result["code"] == 0 and "1 passed, 0 failed" in result["output"], result["output"]
    assert loaded & (SERVE_ONLY | POLLING) == set()
    assert polled_connectors(result["modules"]) == []
    # The normalizers of the types the test used, and only those.
    assert {"opsconductor.engine.connectors.webhook.normalizer", "opsconductor.engine.connectors.snmp.normalizer",
            "opsconductor.engine.connectors.eaton.normalizer"} <= set(result["modules"])
    assert "opsconductor.engine.connectors.prtg.normalizer" not in result["modules"]


def test_validate_loads_no_connector_code() -> None:
    result, loaded = run_cli("validate", "--config", str(ROOT))
    assert result["code"] == 0 and result["output"].startswith("ok: ")
    assert loaded & (SERVE_ONLY | POLLING) == set()
    assert polled_connectors(result["modules"]) == []


def test_explain_loads_the_database_driver_and_not_the_config_tree(db_url: str) -> None:
    result, loaded = run_cli("explain", "00000000-0000-4000-8000-000000000001", "--database-url", db_url)
    assert result["code"] == 1  # no such alert (the message goes to stderr)
    assert "psycopg" in loaded
    # (psycopg imports asyncio itself)
    assert loaded & (SERVE_ONLY - {"psycopg"} | {"httpx", "jsonschema", "yaml", "jinja2"}) == set()
