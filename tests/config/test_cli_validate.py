"""`opsc validate` and `opsc schema` as CI calls them: a subprocess, exit codes and formats."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
OPSC = [sys.executable, "-m", "opsconductor.engine.cli"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*OPSC, *args], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


def test_default_tree_exits_0() -> None:
    out = run("validate", "--config", str(ROOT))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ok: ")
    assert "Traceback" not in out.stderr


def test_problems_exit_1_with_located_lines() -> None:
    out = run("validate", "--config", str(FIXTURES / "unknown_key"))
    assert out.returncode == 1
    assert "connectors.d/prtg.yaml:5:1: $.enabeld: unknown key 'enabeld'" in out.stdout
    assert "Hint: did you mean 'enabled'?" in out.stdout


def test_usage_error_exits_2() -> None:
    out = run("validate", "--format", "xml")
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_json_format() -> None:
    out = run("validate", "--config", str(FIXTURES / "dependency_cycle"), "--format", "json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["ok"] is False and doc["format_version"] == 1
    (p,) = doc["problems"]
    assert (p["file"], p["line"], p["level"]) == ("dependencies.d/d.yaml", 8, "error")
    assert p["message"].startswith("dependency cycle: rtr1 (10.0.0.1)")


def test_github_format_annotations() -> None:
    tree = FIXTURES / "literal_secret"
    out = run("validate", "--config", str(tree), "--format", "github")
    assert out.returncode == 1
    line = out.stdout.strip().splitlines()[0]
    assert line.startswith(f"::error file={tree}/connectors.d/mcp.yaml,line=5,col=11,title=opsc validate::")
    assert "%0AHint: " in line  # multi-line messages are escaped, one annotation per problem


def test_strict_fails_on_warnings() -> None:
    tree = FIXTURES / "silence_warnings"
    out = run("validate", "--config", str(tree))
    assert out.returncode == 1  # it also has an error
    ok_tree = ROOT
    env = {"PATH": "/usr/bin:/bin"}
    out = run("validate", "--config", str(ok_tree), "--secrets", "--strict", env=env)
    assert out.returncode == 1
    assert "PAGERDUTY_ROUTING_KEY is not set" in out.stdout
    # the default tree publishes no webhook token: it comes from the environment only
    assert "MONITORING_WEBHOOK_TOKEN is not set" in out.stdout


def test_missing_directory() -> None:
    out = run("validate", "--config", "/nonexistent/opsc-tree")
    assert out.returncode == 1
    assert "config directory does not exist" in out.stdout


def test_schema_prints_every_kind() -> None:
    from opsconductor.engine.config.schema import schema_names

    for kind in ("connector", "oidmap", "dependency", "rule", "ruletest", "connector.prtg"):
        out = run("schema", kind)
        assert out.returncode == 0, out.stderr
        schema = json.loads(out.stdout)
        assert schema["$schema"].endswith("2020-12/schema")
    assert len(schema_names()) >= 20
    out = run("schema", "bogus")
    assert out.returncode == 2 and "unknown kind" in out.stderr
