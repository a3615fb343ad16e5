"""`opsc serve` end to end as a user runs it, then `opsc demo` against it: traps through the real
receiver, events through the webhook endpoint, correlation visible in the API; SIGHUP reloads."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
DEMO_TOKEN = "demo-webhook-token-for-tests"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(args: list[str], env: dict, port: int) -> tuple[subprocess.Popen, str]:
    """`opsc serve` as a subprocess; returns once /healthz answers (or fails with its output)."""
    proc = subprocess.Popen([sys.executable, "-m", "opsconductor.engine.cli", "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail("opsc serve exited before it came up:\n" + proc.stdout.read())
        try:
            return httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:  # not listening yet
            return False

    try:
        eventually(up, "opsc serve answers /healthz")
    except AssertionError:
        proc.kill()
        pytest.fail("opsc serve did not come up:\n" + proc.stdout.read())
    return proc, base


@pytest.fixture
def server(tmp_path: Path, db_url: str):
    tree = tmp_path / "tree"
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, tree / folder)
    trap_port, http_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    traps = tree / "connectors.d" / "snmp-traps.yaml"
    traps.write_text(traps.read_text().replace("0.0.0.0:1162", f"127.0.0.1:{trap_port}"))
    env = {**os.environ, "OPSC_ADMIN_TOKEN": "admin-secret-1234", "OPSC_LOG_LEVEL": "INFO",
           "MONITORING_WEBHOOK_TOKEN": DEMO_TOKEN}
    proc, base = start_serve(["--config", str(tree), "--database-url", db_url, "--no-watch"], env, http_port)
    yield base, trap_port, tree, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def alerts(base: str) -> list[dict]:
    return httpx.get(f"{base}/api/v1/alerts?limit=100", timeout=10).json()["items"]


def test_demo_scenario_and_sighup_reload(server) -> None:
    base, trap_port, tree, proc = server
    demo = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "demo", "--server", base,
                           "--trap-port", str(trap_port), "--pace", "0.3"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MONITORING_WEBHOOK_TOKEN": DEMO_TOKEN})
    assert demo.returncode == 0, demo.stdout + demo.stderr
    def all_resolved() -> list[dict] | None:
        items = alerts(base)
        return items if len(items) >= 6 and all(a["status"] == "resolved" for a in items) else None

    items = eventually(all_resolved, "the demo's six alerts, all resolved")
    by = {(a["alert_type"], a["device_name"]): a for a in items}
    switch = by[("device_unreachable", "site1-switch")]
    for cam in ("site1-cam1", "site1-cam2"):
        assert by[("device_unreachable", cam)]["correlated_to_id"] == switch["id"]
    assert switch["correlated_to_id"] is None
    assert {("on_battery", "site1-ups"), ("low_battery", "site1-ups"), ("link_down", "site1-router")} <= set(by)
    assert all(a["status"] == "resolved" for a in items)
    detail = httpx.get(f"{base}/api/v1/alerts/{by[('device_unreachable', 'site1-cam1')]['id']}", timeout=10).json()
    assert any(d["rule"].startswith("dependency:network:site1-cam1->site1-switch") for d in detail["decisions"])

    connectors = {c["name"]: c for c in httpx.get(f"{base}/api/v1/connectors", timeout=10).json()["items"]}
    assert connectors["snmp-traps"]["status"] == "ok" and connectors["prtg"]["status"] == "disabled"
    assert connectors["monitoring"]["status"] == "ok"  # the webhook: nothing to start, served by the web layer
    assert httpx.get(f"{base}/healthz", timeout=10).json()["engine"]["connectors_failing"] == []

    version = httpx.get(f"{base}/api/v1/config", timeout=10).json()["current"]["id"]
    (tree / "rules" / "notifications.yaml").write_text(
        (tree / "rules" / "notifications.yaml").read_text() + "\n# edited: a new version (rule names stay: rules/tests name them)\n")
    proc.send_signal(signal.SIGHUP)
    eventually(lambda: httpx.get(f"{base}/api/v1/config", timeout=10).json()["current"]["id"] != version,
               "SIGHUP loaded a new config version")
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(metrics)}  # the reference parser
    assert families["opsc_config_last_reload_successful"].samples[0].value == 1
    assert any(s.labels == {"connector": "monitoring"} for s in families["opsc_events_in"].samples)
    latency = families["opsc_pipeline_latency_seconds"]
    assert latency.type == "histogram" and {s.name for s in latency.samples} == {
        "opsc_pipeline_latency_seconds_bucket", "opsc_pipeline_latency_seconds_count", "opsc_pipeline_latency_seconds_sum"}
    batches = families["opsc_pipeline_batches"]  # the demo's events were written, in transactions that took time
    assert batches.type == "counter" and batches.samples[0].value >= 1
    assert families["opsc_store_write_seconds"].samples[0].value > 0
    assert families["opsc_pipeline_stage_seconds"].samples[0].value > 0
    states = {s.labels["state"]: s.value for s in families["opsc_connector_state"].samples
              if s.labels["connector"] == "snmp-traps"}
    assert states == {"ok": 1, "degraded": 0, "failing": 0, "disabled": 0, "unknown": 0}
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    grafana = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in grafana["panels"] for t in panel.get("targets", ())]
    used = {name for expr in exprs for name in re.findall(r"\b(opsc_[a-z_]+|process_[a-z_]+)", expr)}
    exposed = {s.name for f in families.values() for s in f.samples} | set(families)  # some have no series yet
    assert used and used <= exposed, used - exposed  # every metric the dashboard reads exists
    # a datagram that used to crash the receiver's batch: dropped, counted by reason on /metrics
    crashing = ROOT / "tests" / "connectors" / "snmp" / "fixtures" / "huge-integer-varbind.hex"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(bytes.fromhex("".join(line for line in crashing.read_text().splitlines() if not line.startswith("#"))),
                 ("127.0.0.1", trap_port))
    def dropped(reason: str) -> float | None:
        families = text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=10).text)
        return next((s.value for f in families if f.name == "opsc_trap_dropped" for s in f.samples
                     if s.labels == {"connector": "snmp-traps", "reason": reason}), None)

    eventually(lambda: dropped("malformed") == 1, "the crashing datagram counted as malformed on /metrics")
    assert dropped("malformed") == 1 and dropped("bad_community") == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    out = proc.stdout.read()
    assert "OpsConductor stopped." in out and "Traceback" not in out


def test_gitops_engine_and_opsc_sync(tmp_path: Path, db_url: str) -> None:
    """An engine following a git branch: starts from its head; `opsc sync` applies a new push."""
    git_env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.net", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@example.net", "PATH": os.environ["PATH"], "HOME": str(tmp_path)}

    def git(*args: str, cwd: Path) -> str:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=git_env).stdout

    bare, work = tmp_path / "config.git", tmp_path / "work"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("clone", "-q", str(bare), str(work), cwd=tmp_path)
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, work / folder)
    traps = work / "connectors.d" / "snmp-traps.yaml"
    traps.write_text(traps.read_text().replace("0.0.0.0:1162", f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"))
    git("checkout", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "first", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    port = free_port(socket.SOCK_STREAM)
    env = {**os.environ, "OPSC_ADMIN_TOKEN": "admin-secret-1234", "OPSC_GIT_URL": f"file://{bare}",
           "OPSC_DATA_DIR": str(tmp_path / "data")}
    proc, base = start_serve(["--config", str(tmp_path / "unused"), "--database-url", db_url], env, port)
    try:
        first = httpx.get(f"{base}/api/v1/config", timeout=10).json()["current"]
        assert first["git_commit"] == git("rev-parse", "HEAD", cwd=work).strip()
        (work / "rules" / "notifications.yaml").write_text(
            (work / "rules" / "notifications.yaml").read_text() + "\n# edited: a new version (rule names stay: rules/tests name them)\n")
        git("commit", "-qam", "second", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        out = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "sync", "--server", base],
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0 and out.stdout.startswith("applied: version"), out.stdout + out.stderr
        second = httpx.get(f"{base}/api/v1/config", timeout=10).json()["current"]
        assert second["git_commit"] == git("rev-parse", "HEAD", cwd=work).strip() != first["git_commit"]
        again = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "sync", "--server", base],
                               capture_output=True, text=True, timeout=60, env=env)
        assert again.returncode == 0 and again.stdout.startswith("unchanged")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_trap_port_taken_at_start_is_retried_and_healthz_says_why(tmp_path: Path, db_url: str) -> None:
    tree = tmp_path / "tree"
    for folder in ("connectors.d", "oidmaps", "dependencies.d", "rules"):
        shutil.copytree(ROOT / folder, tree / folder)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    trap_port = taken.getsockname()[1]
    traps = tree / "connectors.d" / "snmp-traps.yaml"
    traps.write_text(traps.read_text().replace("0.0.0.0:1162", f"127.0.0.1:{trap_port}"))
    env = {**os.environ, "OPSC_ADMIN_TOKEN": "admin-secret-1234"}
    proc, base = start_serve(["--config", str(tree), "--database-url", db_url, "--no-watch"], env,
                             free_port(socket.SOCK_STREAM))
    try:
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        assert health["status"] == "degraded" and health["engine"]["connectors_failing"] == ["snmp-traps"]
        assert any(r.startswith("connector snmp-traps is failing: snmp-traps: listen: cannot bind") and
                   "Address already in use" in r for r in health["reasons"]), health
        taken.close()  # the port comes free: a retry binds it
        def healthy() -> dict | None:
            health = httpx.get(f"{base}/healthz", timeout=10).json()
            return health if health["status"] == "ok" else None

        health = eventually(healthy, "/healthz is ok once the trap port is free: a retry bound it")
        assert health["status"] == "ok" and health["reasons"] == [], health
    finally:
        taken.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert "Traceback" not in proc.stdout.read()


def test_admins_check_a_channel_and_a_connector_from_the_connectors_page(server) -> None:
    base, _, _, _ = server
    with httpx.Client(base_url=base, timeout=60, follow_redirects=True) as web:
        page = web.get("/login")
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
        assert web.post("/login", data={"token": "admin-secret-1234", "csrf": csrf, "next": "/connectors"}).status_code == 200
        page = web.get("/connectors")
        assert 'action="/check/channel/audit-log"' in page.text and 'action="/check/connector/monitoring"' in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
        answer = web.post("/check/channel/audit-log", data={"csrf": csrf})
        assert answer.status_code == 200
        assert "Check of channel <code>audit-log</code>: ok" in answer.text and "sent to log" in answer.text
        answer = web.post("/check/connector/monitoring", data={"csrf": csrf})
        assert "Check of connector <code>monitoring</code>: ok" in answer.text and "resolves" in answer.text
        answer = web.post("/check/connector/nope", data={"csrf": csrf})
        assert "FAILED" in answer.text and "no connector named" in answer.text
        config = web.get("/config")  # the channels' Test buttons are on the config page too, answered there
        assert 'action="/check/channel/audit-log?from=config"' in config.text
        answer = web.post("/check/channel/audit-log?from=config", data={"csrf": csrf})
        assert "Check of channel <code>audit-log</code>: ok" in answer.text and "Reload config" in answer.text
    anonymous = httpx.post(f"{base}/check/channel/audit-log", data={"csrf": csrf}, timeout=30)
    assert anonymous.status_code in (303, 403)  # a check needs an admin's session
