"""Root causes are configuration (engine/rootcause.py): a connector's `root_causes` over its
type's defaults, the decision trail naming what said so, `opsc validate --roots`."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from pipeline_helpers import T0, pipeline, tree

from opsconductor.engine.events import RootCause
from opsconductor.engine.model import RawEvent, Status
from opsconductor.engine.store.decisions import DecisionEntry

DEPS = """
devices:
  - {name: sw, ip: 10.0.0.2}
  - {name: cam, ip: 10.0.1.20}
dependencies:
  - {device: cam, depends_on: sw}
"""
PRTG = """
name: prtg
type: prtg
enabled: false
url: https://prtg.example.net
api_token: ${env:T:-x}
"""


def sensor(objid: int, kind: str, host: str, at: float = 0) -> RawEvent:
    return RawEvent(f"p{objid}-{at}", "prtg", "prtg", T0 + timedelta(seconds=at), None,
                    {"state": "raise", "key": str(objid), "item": {"objid": objid, "status_raw": 5, "status": "Down",
                                                                   "type": kind, "sensor": kind, "host": host}})


def test_defaults_and_the_decision_that_names_them(tmp_path) -> None:
    p = pipeline(tmp_path, {"connectors.d/prtg.yaml": PRTG, "dependencies.d/d.yaml": DEPS})
    fx = p.process(sensor(1, "Ping", "10.0.0.2"))
    (root,) = fx.created
    assert root.root_cause == "device_down"
    detail = [(d.rule, d.detail) for d in fx.decisions if isinstance(d.detail, RootCause)]
    assert detail == [("default for prtg: sensor_down/*ping*", RootCause("device_down"))]
    (cpu,) = p.process(sensor(2, "SNMP CPU Load", "10.0.0.2", at=1)).created
    assert cpu.root_cause is None and not [d for d in p.process(sensor(3, "x", "10.0.9.9")).decisions
                                           if isinstance(d.detail, RootCause)]
    (child,) = p.process(sensor(4, "HTTP", "10.0.1.20", at=2)).created
    assert (child.status, child.correlated_to_id) == (Status.SUPPRESSED, root.id)


def test_a_connector_map_overrides_the_defaults_by_type_and_sub_type(tmp_path) -> None:
    override = PRTG + "root_causes:\n  sensor_down/*ping*: none\n  SENSOR_DOWN/snmp cpu*: device_down\n"
    p = pipeline(tmp_path, {"connectors.d/prtg.yaml": override, "dependencies.d/d.yaml": DEPS})
    (ping,) = p.process(sensor(1, "Ping", "10.0.0.9")).created
    fx = p.process(sensor(2, "SNMP CPU Load", "10.0.0.2", at=1))
    (cpu,) = fx.created
    assert (ping.root_cause, cpu.root_cause) == (None, "device_down")
    (rule,) = [d.rule for d in fx.decisions if isinstance(d.detail, RootCause)]
    assert rule == "connectors.d/prtg.yaml:2 root_causes[sensor_down/snmp cpu*]"


def test_explain_says_why_an_alert_is_a_root() -> None:
    entry = DecisionEntry(1, "a", "normalize", "oidmaps/eaton.yaml:88", None, {"root_cause": "power_down"}, T0)
    assert entry.describe() == ("root cause (power_down): alerts of what depends on this device through power "
                                "dependencies are suppressed under it")


def test_validate_roots_lists_defaults_overrides_and_oid_maps(tmp_path) -> None:
    override = PRTG + "root_causes:\n  sensor_down/http*: device_down\n"
    oidmap = ("mappings:\n  - oid: 1.3.6.1.4.1.9.9.1\n    alert_type: chassis_off\n    root_cause: power_down\n"
              "    category: power\n    severity: critical\n    title: off\n")
    root = tree(tmp_path, {"connectors.d/prtg.yaml": override, "oidmaps/x.yaml": oidmap})
    out = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "validate", "--roots", "--config", str(root)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  prtg (prtg): sensor_down/*ping* -> device_down (default for prtg)" in out.stdout
    assert "  prtg (prtg): sensor_down/http* -> device_down (connectors.d/prtg.yaml:2)" in out.stdout
    assert "  OID map 1.3.6.1.4.1.9.9.1 (chassis_off) -> power_down (oidmaps/x.yaml:2)" in out.stdout
    bad = tree(tmp_path / "bad", {"connectors.d/prtg.yaml": PRTG + "root_causes: {sensor_down: down}\n"})
    refused = subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", "validate", "--config", str(bad)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "connectors.d/prtg.yaml:7" in refused.stdout and "root_causes" in refused.stdout
