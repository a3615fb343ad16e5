"""The image and the unit in deploy/ keep the promises docs/deploy.md makes: an unprivileged
user, a health check on /healthz, the trap port, the config as a volume, a hardened unit that
runs `opsc serve`, and a sysctl that lets the trap receiver have the buffer it asks for.
(CI has no docker or systemd; `make image` builds the image where docker exists.)"""
from __future__ import annotations

import configparser
import re
from pathlib import Path

from opsconductor.engine.connectors.snmp.receiver import DEFAULT_RECEIVE_BUFFER

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_runs_unprivileged_with_a_health_check_the_trap_port_and_a_config_volume() -> None:
    steps = _instructions()
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    ops = {op: arg for op, arg in final}
    assert ops["USER"] not in ("root", "0")
    assert "/healthz" in ops["HEALTHCHECK"] and "8080" in ops["HEALTHCHECK"]
    assert "1162/udp" in ops["EXPOSE"].split() and "8080" in ops["EXPOSE"].split()
    assert '"/config"' in ops["VOLUME"] and "OPSC_CONFIG_DIR=/config" in ops["ENV"]
    assert ops["ENTRYPOINT"] == '["opsc"]' and ops["CMD"] == '["serve"]'
    assert not any(op == "RUN" and "build-essential" in arg for op, arg in final)  # compilers stay in the build stage


def test_the_unit_runs_serve_hardened_and_reloads_with_sighup() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(DEPLOY / "opsconductor.service")
    service = unit["Service"]
    assert re.search(r"/opsc serve\b", service["ExecStart"])
    assert service["ExecReload"].endswith("-HUP $MAINPID")
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "DynamicUser": "yes", "CapabilityBoundingSet": ""}.items():
        assert service[key] == value, key


def test_the_sysctl_lets_the_trap_receiver_have_its_buffer() -> None:
    text = (DEPLOY / "99-opsconductor-sysctl.conf").read_text()
    (value,) = re.findall(r"^net\.core\.rmem_max\s*=\s*(\d+)", text, flags=re.M)
    assert int(value) >= DEFAULT_RECEIVE_BUFFER
