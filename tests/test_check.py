"""`opsc check connector`: a real poll of a fake vendor over a real socket, a real trap
receiver fed by net-snmp's snmptrap, and a webhook whose secret is missing. Nothing stored."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakes.prtg import PrtgFake, device, sensor
from fakes.scenario import Scenario, serve
from opsconductor.engine.check import check_connector
from opsconductor.engine.config.loader import load_bundle

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "prtg-SECRET-check-1234"


def _prtg_tree(tmp_path: Path, url: str) -> Path:
    (tmp_path / "connectors.d").mkdir(parents=True, exist_ok=True)
    (tmp_path / "connectors.d" / "prtg.yaml").write_text(textwrap.dedent(f"""\
        name: prtg-main
        type: prtg
        url: {url}
        api_token: ${{env:OPSC_TEST_CHECK_TOKEN}}
        """))
    return tmp_path


def test_a_poll_shows_the_alerts_it_would_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_CHECK_TOKEN", TOKEN)
    scenario = Scenario(apitoken=TOKEN, sensors=[sensor(1001, 5, name="Ping"), sensor(1002, 4, name="CPU Load")],
                        devices=[device(2000, "10.1.2.3", "core-sw-01")])

    async def body():
        async with serve(PrtgFake(scenario).app) as url:
            return await check_connector(load_bundle(_prtg_tree(tmp_path, url)), "prtg-main")

    report = asyncio.run(body())
    assert report.ok, report.text()
    text = report.text()
    assert "2 event(s) (2 raise) → 2 alert(s)" in text
    assert "core-sw-01" in text and TOKEN not in text


def test_a_refused_token_is_a_located_error_without_the_secret(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPSC_TEST_CHECK_TOKEN", "wrong-" + TOKEN)
    scenario = Scenario(apitoken=TOKEN, sensors=[sensor(1001, 5)], devices=[device(2000, "10.1.2.3")])

    async def body():
        async with serve(PrtgFake(scenario).app) as url:
            return await check_connector(load_bundle(_prtg_tree(tmp_path, url)), "prtg-main")

    report = asyncio.run(body())
    assert not report.ok
    assert "prtg-main" in report.text() and "401" in report.text() and TOKEN not in report.text()


def test_a_webhook_without_its_token_says_every_request_is_refused(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "check", "connector", "monitoring",
                          "--config", str(ROOT)], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 1
    assert "MONITORING_WEBHOOK_TOKEN is not set; every request is refused" in out.stdout


@pytest.mark.skipif(shutil.which("snmptrap") is None, reason="net-snmp's snmptrap is not installed (make sysdeps)")
def test_a_trap_receiver_listens_and_shows_the_traps_it_got(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tree = tmp_path / "tree"
    for folder in ("connectors.d", "oidmaps", "dependencies.d"):
        shutil.copytree(ROOT / folder, tree / folder)
    traps = tree / "connectors.d" / "snmp-traps.yaml"
    traps.write_text(traps.read_text().replace("0.0.0.0:1162", f"127.0.0.1:{port}"))
    proc = subprocess.Popen([sys.executable, "-m", "opsconductor.engine.cli", "check", "connector", "snmp-traps",
                             "--config", str(tree), "--listen-seconds", "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OPSC_LOG_LEVEL": "INFO"})
    logged: list[str] = []
    for line in proc.stderr:  # the receiver logs this line once its socket is bound
        logged.append(line)
        if f"listening on 127.0.0.1:{port}" in line:
            break
    else:
        pytest.fail("the check ended before its receiver listened:\n" + "".join(logged) + proc.stdout.read())
    subprocess.run(["snmptrap", "-v", "2c", "-c", "public", f"127.0.0.1:{port}", "", "1.3.6.1.6.3.1.1.5.1"],
                   check=True, timeout=10)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"listening on 127.0.0.1:{port}" in out
    assert "cold_start" in out and " raise" not in out
