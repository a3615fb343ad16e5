"""SNMP pollers (eaton, siklu, cradlepoint mode snmp) against a real net-snmp snmpd on 127.0.0.1.

Each test starts its own snmpd on a free UDP port. The vendor OIDs are served by
snmpd/agent.py through `pass_persist`, from JSON files (snmpd/*.json: a healthy Eaton UPS,
Siklu radio and Cradlepoint router) that the test rewrites between polls. Connectors are
configured through the real loader; secrets are ${env:…} references.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from opsconductor.engine.config.loader import load_bundle
from opsconductor.engine.connectors.cradlepoint.normalizer_snmp import normalize_snmp
from opsconductor.engine.connectors.cradlepoint.snmp import CradlepointSnmpPoller
from opsconductor.engine.connectors.eaton.normalizer import normalize as normalize_eaton
from opsconductor.engine.connectors.eaton.poller import EatonPoller
from opsconductor.engine.connectors.siklu.normalizer import normalize as normalize_siklu
from opsconductor.engine.connectors.siklu.poller import SikluPoller
from opsconductor.engine.errors import ConnectorError
from opsconductor.engine.model import Severity, fingerprint
from opsconductor.engine.pipeline.context import ConfigView

SNMPD = shutil.which("snmpd") or next((p for p in ("/usr/sbin/snmpd",) if os.access(p, os.X_OK)), None)
NO_SNMPD = "net-snmp's snmpd is not installed (Debian package snmpd; `make sysdeps` installs it)"

DATA = Path(__file__).parent / "snmpd"
COMMUNITY = "opsc-COMMUNITY-5e1f"
V3_USER, V3_AUTH, V3_PRIV = "opscv3", "auth-SECRET-7a1b", "priv-SECRET-3c9d"
ENV = {"OPSC_TEST_SNMP_COMMUNITY": COMMUNITY, "OPSC_TEST_SNMP_AUTH": V3_AUTH, "OPSC_TEST_SNMP_PRIV": V3_PRIV,
       "OPSC_TEST_SNMP_WRONG": "not-the-key-000"}
SUBTREES = {"eaton": ("1.3.6.1.4.1.534", "1.3.6.1.2.1.33"), "siklu": ("1.3.6.1.4.1.31926",),
            "cradlepoint": ("1.3.6.1.4.1.20992",)}
XUPS, UPS, RF, MDM = "1.3.6.1.4.1.534.1", "1.3.6.1.2.1.33.1", "1.3.6.1.4.1.31926.2.1.1", "1.3.6.1.4.1.20992.1.2.2.1"


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag, len(body))) + body


def _probe(community: str) -> bytes:
    """An SNMPv2c GET of sysUpTime.0, BER-encoded by hand (short forms only)."""
    varbind = _tlv(0x30, _tlv(0x06, bytes((0x2B, 6, 1, 2, 1, 1, 3, 0))) + b"\x05\x00")
    pdu = _tlv(0xA0, _tlv(2, b"\x01") + _tlv(2, b"\x00") + _tlv(2, b"\x00") + _tlv(0x30, varbind))
    return _tlv(0x30, _tlv(2, b"\x01") + _tlv(4, community.encode()) + pdu)


class Agent:
    """One snmpd on 127.0.0.1 serving the three vendor data files; restartable on its port."""

    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "mibs").mkdir(parents=True)
        for vendor in SUBTREES:
            self.reset(vendor)
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    def set(self, vendor: str, **values) -> None:
        """Change OIDs (oid=(type, value)); the file is replaced atomically."""
        data = json.loads((self.folder / f"{vendor}.json").read_text())
        self._write(vendor, {"oids": {**data["oids"], **{oid: list(v) for oid, v in values.items()}}})

    def reset(self, vendor: str) -> None:
        """Back to the healthy data file."""
        self._write(vendor, json.loads((DATA / f"{vendor}.json").read_text()))

    def _write(self, vendor: str, data: dict) -> None:
        (self.folder / f"{vendor}.tmp").write_text(json.dumps(data))
        os.replace(self.folder / f"{vendor}.tmp", self.folder / f"{vendor}.json")

    def _config(self) -> Path:
        lines = [f"rocommunity {COMMUNITY} 127.0.0.1",
                 f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"', f"rouser {V3_USER} priv"]
        for vendor, prefixes in SUBTREES.items():
            for prefix in prefixes:
                lines.append(f"pass_persist .{prefix} {sys.executable} {DATA / 'agent.py'} "
                             f"{self.folder / (vendor + '.json')} {prefix}")
        conf = self.folder / "snmpd.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        for _ in range(3):  # a free port can be taken between finding it and binding it
            if self.port is None:  # a restart keeps its port
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", 0))
                    self.port = s.getsockname()[1]
            env = {**os.environ, "MIBS": "", "MIBDIRS": str(self.folder / "mibs"),
                   "SNMP_PERSISTENT_DIR": str(self.folder / "persist")}
            log = open(self.folder / "snmpd.log", "ab")
            self.proc = subprocess.Popen(
                [SNMPD, "-f", "-Lo", "-C", "-c", str(self._config()), f"udp:127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            log.close()
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"snmpd did not start; its log:\n{(self.folder / 'snmpd.log').read_text()[-2000:]}")

    def _wait_ready(self, seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            while time.monotonic() < deadline and self.proc.poll() is None:
                s.sendto(_probe(COMMUNITY), ("127.0.0.1", self.port))
                try:
                    return bool(s.recvfrom(4096))
                except OSError:
                    continue
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc is None or proc.poll() is not None:
                return
            try:
                os.killpg(proc.pid, sig)  # snmpd and its pass_persist helpers: the group we started
                proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass


@pytest.fixture
def agent(tmp_path):
    if SNMPD is None:
        pytest.skip(NO_SNMPD)
    a = Agent(tmp_path / "agent")
    try:
        a.start()
        yield a
    finally:
        a.stop()


class Rig:
    """One poller built through the real loader, its events, and its normalizer."""

    def __init__(self, tmp_path: Path, cls, normalize, config: dict):
        root = tmp_path / "conf"
        (root / "connectors.d").mkdir(parents=True, exist_ok=True)
        base = {"timeout": "500ms", "retries": 1, "poll_interval": "60s"}
        (root / "connectors.d" / "c.yaml").write_text(yaml.safe_dump({**base, **config}))
        bundle = load_bundle(root, environ={**os.environ, **ENV})
        self.config, self.view = bundle.connectors[0], ConfigView(bundle)
        self.cls, self.normalize_fn = cls, normalize
        self.events: list = []
        self.connector = cls(self.config, self.events.extend, rng=lambda: 0.5)

    async def poll(self) -> list[tuple[str, str, str, str]]:
        events = await self.connector.poll_once()
        return sorted((e.payload["state"], e.payload["item"]["target"], e.payload["item"]["alert_type"],
                       e.payload["item"]["resource_key"]) for e in events)

    def alerts(self):
        return [a for e in self.events for a in self.normalize_fn(e, self.view)]


def drive(rig: Rig, body) -> None:
    async def run():
        try:
            await body()
        finally:
            await rig.connector.stop()
    asyncio.run(run())


def target(agent: Agent, name: str, **more) -> dict:
    return {"host": "127.0.0.1", "port": agent.port, "name": name,
            "community": "${env:OPSC_TEST_SNMP_COMMUNITY}", **more}


def test_eaton_raise_unchanged_clear_with_per_target_thresholds(agent, tmp_path) -> None:
    rig = Rig(tmp_path, EatonPoller, normalize_eaton, {
        "name": "ups", "type": "eaton", "mode": "snmp", "severity_map": {"battery_capacity_low": "major"},
        "thresholds": {"battery_capacity_min": 50, "output_load_max": 80, "input_voltage_min": 200,
                       "input_voltage_max": 250},
        "targets": [target(agent, "ups-a"), target(agent, "ups-b", thresholds={"battery_capacity_min": 30})]})

    async def body():
        assert await rig.poll() == []  # healthy
        agent.set("eaton", **{f"{XUPS}.4.5.0": ("integer", 5), f"{UPS}.2.2.0": ("integer", 120),
                              f"{XUPS}.2.4.0": ("integer", 35), f"{XUPS}.4.1.0": ("integer", 95),
                              f"{XUPS}.3.4.1.2.2": ("integer", 180)})
        raised = await rig.poll()
        assert raised == sorted([*(("raise", t, "on_battery", "ups") for t in ("ups-a", "ups-b")),
                                 *(("raise", t, "output_overload", "output") for t in ("ups-a", "ups-b")),
                                 *(("raise", t, "input_voltage_out_of_range", "input.2") for t in ("ups-a", "ups-b")),
                                 ("raise", "ups-a", "battery_capacity_low", "battery")])  # ups-b's minimum is 30
        assert await rig.poll() == []  # unchanged: nothing
        agent.set("eaton", **{f"{UPS}.2.1.0": ("integer", 3), f"{XUPS}.2.4.0": ("integer", 33)})
        assert await rig.poll() == [("raise", t, "low_battery", "battery") for t in ("ups-a", "ups-b")]
        agent.set("eaton", **{f"{UPS}.2.1.0": ("integer", 4)})  # low → depleted: raised again
        assert await rig.poll() == [("raise", t, "low_battery", "battery") for t in ("ups-a", "ups-b")]
        agent.reset("eaton")
        cleared = await rig.poll()
        assert cleared == sorted([(s.replace("raise", "clear"), *rest) for s, *rest in raised]
                                 + [("clear", t, "low_battery", "battery") for t in ("ups-a", "ups-b")])
        assert await rig.poll() == []
        assert rig.connector.status().status == "ok" and rig.connector.status().alerts_received == len(rig.events)
    drive(rig, body)

    alerts = {(a.device_name, a.alert_type, a.is_clear, a.severity): a for a in rig.alerts()}
    on = alerts[("ups-a", "on_battery", False, Severity.MAJOR)]
    assert on.source_system == "eaton" and on.category == "power" and on.device_ip == "127.0.0.1"
    assert "on battery for 120 s" in on.title and on.title.startswith("UPS ups-a:")
    assert on.fingerprint == fingerprint("eaton", "127.0.0.1", "on_battery", "ups")
    cap = alerts[("ups-a", "battery_capacity_low", False, Severity.MAJOR)]  # severity_map
    assert "35 %" in cap.title and "50 %" in cap.title
    volts = alerts[("ups-b", "input_voltage_out_of_range", False, Severity.MINOR)]
    assert "180 V" in volts.title and "[200, 250] V" in volts.title
    assert ("ups-a", "low_battery", False, Severity.CRITICAL) in alerts
    assert alerts[("ups-a", "low_battery", False, Severity.CRITICAL)].raw_data["level"] == "depleted"
    clear = alerts[("ups-a", "on_battery", True, Severity.CLEAR)]
    assert clear.clears == ("on_battery",) and clear.fingerprint == on.fingerprint
    other = alerts[("ups-b", "on_battery", False, Severity.MAJOR)]  # same host, another target name
    assert other.device_name == "ups-b" and other.fingerprint == on.fingerprint


def test_siklu_rf_conditions_and_link_down(agent, tmp_path) -> None:
    rig = Rig(tmp_path, SikluPoller, normalize_siklu, {
        "name": "radios", "type": "siklu", "mode": "snmp",
        "thresholds": {"rssi_min": -65, "cinr_min": 12, "modulation_min": 2}, "targets": [target(agent, "eh-1")]})

    async def body():
        assert await rig.poll() == []
        agent.set("siklu", **{f"{RF}.19.1": ("integer", -71), f"{RF}.18.1": ("integer", 7),
                              f"{RF}.7.1": ("integer", 1)})
        assert await rig.poll() == [("raise", "eh-1", t, "rf.1") for t in ("cinr_low", "modulation_drop", "rssi_low")]
        assert await rig.poll() == []
        agent.set("siklu", **{f"{RF}.17.1": ("integer", 2), f"{RF}.19.1": ("integer", -99)})
        assert await rig.poll() == [("raise", "eh-1", "siklu_rf_link_down", "rf.1")]  # the rest is kept
        agent.reset("siklu")
        assert await rig.poll() == [("clear", "eh-1", t, "rf.1")
                                    for t in ("cinr_low", "modulation_drop", "rssi_low", "siklu_rf_link_down")]
    drive(rig, body)
    alerts = {(a.alert_type, a.is_clear): a for a in rig.alerts()}
    down = alerts[("siklu_rf_link_down", False)]
    assert down.severity is Severity.CRITICAL and down.category == "wireless" and down.source_system == "siklu"
    assert "-71 dBm" in alerts[("rssi_low", False)].title and "-65 dBm" in alerts[("rssi_low", False)].title
    assert "qpsk" in alerts[("modulation_drop", False)].title and "qam16" in alerts[("modulation_drop", False)].title


def test_cradlepoint_wan_down_and_api_mode_refused(agent, tmp_path) -> None:
    rig = Rig(tmp_path, CradlepointSnmpPoller, normalize_snmp, {
        "name": "routers", "type": "cradlepoint", "mode": "snmp", "targets": [target(agent, "cp-1")]})

    async def body():
        assert await rig.poll() == []  # established + ready (standby)
        agent.set("cradlepoint", **{f"{MDM}.5.1": ("integer", 5)})
        assert await rig.poll() == [("raise", "cp-1", "wan_down", "modem.1")]
        assert await rig.poll() == []
        agent.set("cradlepoint", **{f"{MDM}.5.1": ("integer", 2)})  # establishing: kept
        assert await rig.poll() == []
        agent.set("cradlepoint", **{f"{MDM}.5.1": ("integer", 1)})
        assert await rig.poll() == [("clear", "cp-1", "wan_down", "modem.1")]
    drive(rig, body)
    raised = rig.alerts()[0]
    assert raised.severity is Severity.MAJOR and raised.category == "network" and raised.source_system == "cradlepoint"
    assert "Internal LTE (SIM1)" in raised.title and "disconnected" in raised.title
    with pytest.raises(ConnectorError, match="mode"):
        Rig(tmp_path / "api", CradlepointSnmpPoller, normalize_snmp, {
            "name": "ncm", "type": "cradlepoint", "targets": [target(agent, "cp-1")],
            **{k: "${env:OPSC_TEST_NCM_KEY:-unused}" for k in ("cp_api_id", "cp_api_key", "ecm_api_id", "ecm_api_key")}})


def test_unreachable_raises_and_clears_and_freezes_other_state(agent, tmp_path) -> None:
    rig = Rig(tmp_path, EatonPoller, normalize_eaton, {
        "name": "ups", "type": "eaton", "targets": [target(agent, "ups-a")]})

    async def body():
        agent.set("eaton", **{f"{XUPS}.4.5.0": ("integer", 5)})
        assert await rig.poll() == [("raise", "ups-a", "on_battery", "ups")]
        agent.stop()
        assert await rig.poll() == [("raise", "ups-a", "device_unreachable", "snmp")]  # on_battery kept
        status = rig.connector.status()
        assert status.status == "failing" and "ups-a" in status.error_message and "timed out" in status.error_message
        assert COMMUNITY not in status.error_message
        assert await rig.poll() == []
        agent.set("eaton", **{f"{XUPS}.4.5.0": ("integer", 3)})
        agent.start()  # same port
        assert await rig.poll() == [("clear", "ups-a", "device_unreachable", "snmp"),
                                    ("clear", "ups-a", "on_battery", "ups")]
        assert rig.connector.status().status == "ok"
    drive(rig, body)
    down = [a for a in rig.alerts() if a.alert_type == "device_unreachable"]
    assert [a.is_clear for a in down] == [False, True]
    assert down[0].category == "network" and down[0].severity is Severity.MAJOR
    assert "does not answer SNMP" in down[0].title


def test_v3_auth_priv_and_a_refused_user(agent, tmp_path) -> None:
    user = {"user": V3_USER, "auth_protocol": "sha", "auth_key": "${env:OPSC_TEST_SNMP_AUTH}",
            "priv_protocol": "aes", "priv_key": "${env:OPSC_TEST_SNMP_PRIV}"}
    wrong = {**user, "user": "nobody"}
    rig = Rig(tmp_path, EatonPoller, normalize_eaton, {
        "name": "ups", "type": "eaton", "v3_users": [user, wrong],
        "targets": [{"host": "127.0.0.1", "port": agent.port, "name": "ups-v3", "version": "3", "v3_user": V3_USER},
                    {"host": "127.0.0.1", "port": agent.port, "name": "ups-bad", "version": "3", "v3_user": "nobody"}]})

    async def body():
        agent.set("eaton", **{f"{UPS}.2.2.0": ("integer", 30)})
        assert await rig.poll() == [("raise", "ups-bad", "device_unreachable", "snmp"),
                                    ("raise", "ups-v3", "on_battery", "ups")]
        status = rig.connector.status()
        assert status.status == "degraded" and "ups-bad" in status.error_message
        assert V3_AUTH not in status.error_message and V3_PRIV not in status.error_message
    drive(rig, body)
    assert all(V3_AUTH not in repr(e.payload) for e in rig.events)


def test_previous_state_is_cleared_after_restart(agent, tmp_path) -> None:
    rig = Rig(tmp_path, SikluPoller, normalize_siklu, {"name": "r", "type": "siklu", "targets": [target(agent, "eh-1")]})

    async def body():
        agent.set("siklu", **{f"{RF}.18.1": ("integer", 3)})
        assert await rig.poll() == [("raise", "eh-1", "cinr_low", "rf.1")]
        state = json.loads(json.dumps(rig.connector.state))  # as the engine rebuilds it
        await rig.connector.stop()
        agent.set("siklu", **{f"{RF}.18.1": ("integer", 20)})
        rig.connector = SikluPoller(rig.config, rig.events.extend, previous_state=state)
        assert await rig.poll() == [("clear", "eh-1", "cinr_low", "rf.1")]
    drive(rig, body)
    raised, cleared = rig.alerts()
    assert cleared.fingerprint == raised.fingerprint and cleared.is_clear


def test_config_errors_name_the_key(tmp_path) -> None:
    with pytest.raises(ConnectorError, match=r"targets\[0\]\.v3_user"):
        Rig(tmp_path / "a", EatonPoller, normalize_eaton, {
            "name": "ups", "type": "eaton", "targets": [{"host": "10.0.0.1", "version": "3", "v3_user": "x"}]})
    with pytest.raises(ConnectorError, match=r"targets\[0\]\.community"):
        Rig(tmp_path / "b", EatonPoller, normalize_eaton, {"name": "ups", "type": "eaton",
                                                            "targets": [{"host": "10.0.0.1"}]})
    with pytest.raises(ConnectorError, match="rssi_minimum"):
        Rig(tmp_path / "c", SikluPoller, normalize_siklu, {"name": "r", "type": "siklu", "targets": [
            {"host": "10.0.0.1", "community": "${env:OPSC_TEST_SNMP_COMMUNITY}", "thresholds": {"rssi_minimum": 1}}]})


def test_schedule_jitter_and_stop(agent, tmp_path) -> None:
    sleeps: list[float] = []
    polled = asyncio.Event()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 2:
            polled.set()
            await asyncio.Event().wait()  # parked until stop() cancels the loop

    rig = Rig(tmp_path, CradlepointSnmpPoller, normalize_snmp, {
        "name": "routers", "type": "cradlepoint", "mode": "snmp", "targets": [target(agent, "cp-1")]})
    agent.set("cradlepoint", **{f"{MDM}.5.2": ("integer", 4)})

    async def body():
        connector = CradlepointSnmpPoller(rig.config, rig.events.extend, rng=lambda: 0.25, sleep=sleep)
        await connector.start()
        await asyncio.wait_for(polled.wait(), 10)
        await connector.stop()
        assert connector.status().status == "ok"
    asyncio.run(body())
    assert sleeps[0] == pytest.approx(0.25 * 5.0)  # initial jitter: rng × min(10% of 60 s, 5 s)
    assert 0 < sleeps[1] <= 60 * 0.95  # interval × (0.9 + 0.2 × rng), less the poll's own time
    assert [e.payload["item"]["resource_key"] for e in rig.events] == ["modem.2"]


def test_missing_objects_keep_previous_state_and_fallbacks() -> None:
    from opsconductor.engine.connectors.cradlepoint.snmp import evaluate as cradlepoint
    from opsconductor.engine.connectors.eaton.poller import evaluate as eaton
    from opsconductor.engine.connectors.siklu.poller import evaluate as siklu

    limits = {"battery_capacity_min": 50, "output_load_max": 80, "input_voltage_min": None, "input_voltage_max": None}
    ups_mib_only = eaton({"upsOutputSource": 5, "upsEstimatedChargeRemaining": 20, "upsOutputPercentLoad": 90,
                          "input_voltage": {"1": 0}}, limits)
    assert set(ups_mib_only.problems) == {"on_battery|ups", "battery_capacity_low|battery", "output_overload|output"}
    assert ups_mib_only.unknown == {"low_battery", "input_voltage_out_of_range"}
    radio = siklu({"1": {"oper_state": 1, "rssi": -60, "cinr": 15, "modulation": 5}, "2": {"oper_state": 2}},
                  {"rssi_min": -70, "cinr_min": 10, "modulation_min": 1})
    assert set(radio.problems) == {"modulation_drop|rf.1", "siklu_rf_link_down|rf.2"}  # bpsk ranks below qpsk
    assert {"rssi_low|rf.2", "cinr_low|rf.2", "modulation_drop|rf.2"} <= radio.unknown
    assert siklu({}, {}).unknown == {"siklu_rf_link_down", "rssi_low", "cinr_low", "modulation_drop"}
    router = cradlepoint({"1": {"status": 8}, "2": {"status": 6}, "3": {"status": 4, "descr": "LTE"}})
    assert set(router.problems) == {"wan_down|modem.3"} and router.unknown == {"wan_down|modem.2"}
    assert cradlepoint({}).unknown == {"wan_down"}
