"""Traps through the OID maps: precedence, conditions, value maps, templates, unknown traps."""
from __future__ import annotations

from pipeline_helpers import IF_INDEX, LINK_DOWN, pipeline, trap

from opsconductor.engine.model import Severity

MAPS = {
    "oidmaps/m.yaml": """
    mappings:
      - oid: 1.3.6.1.4.1.9.*
        alert_type: cisco_any
        category: network
        severity: minor
        title: "Cisco {{ trap_oid }}"
      - oid: 1.3.6.1.4.1.9.9.41.*
        alert_type: cisco_syslog
        category: network
        severity: warning
        title: "Syslog {{ device_name }}"
      - oid: 1.3.6.1.4.1.9.9.41.2.0.1
        alert_type: cisco_syslog_exact
        category: network
        severity: major
        title: "Exact {{ device }}"
      - oid: 1.3.6.1.4.1.9.9.41.2.0.1
        when:
          - {varbind: 1.3.6.1.4.1.9.9.41.1.2.3.1.2, equals: LINK}
        alert_type: cisco_link
        category: network
        severity: critical
        title: "Link message {{ vb['1.3.6.1.4.1.9.9.41.1.2.3.1.2'] }}"
      - oid: 1.3.6.1.6.3.1.1.5.3
        alert_type: link_down
        category: network
        severity: major
        title: "Interface Down - {{ device_name }} if{{ vb.ifIndex }} {{ values.ifOperStatus }}"
        resource_key: "{{ vb.ifIndex }}"
        value_maps:
          ifOperStatus: {1: up, 2: down, 7: lowerLayerDown}
      - oid: 1.3.6.1.4.1.31926.3.11
        alert_type: "siklu_{{ values['1.3.6.1.4.1.31926.11.2.1.2'] }}"
        category: wireless
        severity: major
        severity_from:
          varbind: 1.3.6.1.4.1.31926.11.2.1.5
          values: {1: critical, 3: minor}
        title: Radio alarm
        value_maps:
          1.3.6.1.4.1.31926.11.2.1.2: {1: rf_link_down, 10: rssi_out_of_range}
    """,
    "dependencies.d/d.yaml": """
    devices:
      - {name: core-sw, ip: 10.0.0.2}
    """,
}


def only(fx):
    (alert,) = fx.created
    return alert


def test_exact_beats_wildcard_and_longer_prefix_beats_shorter(tmp_path) -> None:
    p = pipeline(tmp_path, MAPS)
    assert only(p.process(trap("1.3.6.1.4.1.9.9.41.2.0.1", "10.0.0.2"))).alert_type == "cisco_syslog_exact"
    assert only(p.process(trap("1.3.6.1.4.1.9.9.41.2.0.7", "10.0.0.2"))).title == "Syslog core-sw"
    assert only(p.process(trap("1.3.6.1.4.1.9.5.1", "10.0.0.2"))).title == "Cisco 1.3.6.1.4.1.9.5.1"


def test_varbind_condition_beats_plain_mapping(tmp_path) -> None:
    p = pipeline(tmp_path, MAPS)
    alert = only(p.process(trap("1.3.6.1.4.1.9.9.41.2.0.1", "10.0.0.9", [("1.3.6.1.4.1.9.9.41.1.2.3.1.2.77", "LINK")])))
    assert (alert.alert_type, alert.severity, alert.title) == ("cisco_link", Severity.CRITICAL, "Link message LINK")
    assert alert.device_name == "10.0.0.9"  # undeclared devices are named by their address


def test_value_maps_names_and_resource_key(tmp_path) -> None:
    p = pipeline(tmp_path, MAPS)
    alert = only(p.process(trap(LINK_DOWN, "10.0.0.2", [(f"{IF_INDEX}.12", 12), ("1.3.6.1.2.1.2.2.1.8.12", 7)])))
    assert alert.title == "Interface Down - core-sw if12 lowerLayerDown"
    assert alert.resource_key == "12"
    assert alert.custom_fields["oid_map"] == "oidmaps/m.yaml:25"


def test_templated_alert_type_and_severity_from_varbind(tmp_path) -> None:
    p = pipeline(tmp_path, MAPS)
    alert = only(p.process(trap("1.3.6.1.4.1.31926.3.11", "10.0.0.5", [
        ("1.3.6.1.4.1.31926.11.2.1.2.5017", 10), ("1.3.6.1.4.1.31926.11.2.1.5.5017", 3)])))
    assert (alert.alert_type, alert.severity) == ("siklu_rssi_out_of_range", Severity.MINOR)


def test_unmapped_trap_becomes_unknown_trap_alert(tmp_path) -> None:
    p = pipeline(tmp_path, MAPS)
    alert = only(p.process(trap("1.3.6.1.4.1.99999.1.2", "10.0.0.7", [("1.3.6.1.4.1.99999.5.0", "hello")])))
    assert (alert.alert_type, alert.severity, alert.category) == ("unknown_trap", Severity.INFO, "unknown")
    assert "1.3.6.1.4.1.99999.5.0 = hello" in alert.message


def test_unmapped_drop_makes_no_alert(tmp_path) -> None:
    files = {**MAPS, "connectors.d/traps.yaml": """
    name: traps
    type: snmp_trap
    listen: ["127.0.0.1:1162"]
    communities: ["${env:C:-public}"]
    unmapped: raw
    """}
    p = pipeline(tmp_path, files)
    assert p.process(trap("1.3.6.1.4.1.99999.1.2", "10.0.0.7")).created == ()


def test_default_tree_eaton_alarm_descriptor_in_varbind(tmp_path) -> None:
    from opsconductor.engine.connectors.registry import NORMALIZERS
    from opsconductor.engine.config.loader import load_bundle
    from opsconductor.engine.pipeline.pipeline import Pipeline
    from pipeline_helpers import HOST
    from pathlib import Path

    p = Pipeline(load_bundle(Path(__file__).resolve().parents[2]), HOST, normalizers=NORMALIZERS)
    added = "1.3.6.1.4.1.534.1.11.4.1.0.21"
    fx = p.process(trap(added, "10.20.0.5", [("1.3.6.1.4.1.534.1.7.2.1.1.17", 17),
                                                ("1.3.6.1.4.1.534.1.7.2.1.2.17", "1.3.6.1.4.1.534.1.7.3")]))
    assert only(fx).alert_type == "on_battery"
    removed = "1.3.6.1.4.1.534.1.11.4.1.0.22"
    fx = p.process(trap(removed, "10.20.0.5", [("1.3.6.1.4.1.534.1.7.2.1.2.17", "1.3.6.1.4.1.534.1.7.3")], at=60))
    assert [c.action for c in fx.changes] == ["cleared"]
    p.close()


def test_varbind_names_from_pysnmp_mibs() -> None:
    from opsconductor.engine.pipeline.varbinds import Varbinds

    vb = Varbinds([("1.3.6.1.2.1.1.5.0", "core-sw"), ("1.3.6.1.2.1.4.20.1.1.10.0.0.2", "10.0.0.2"),
                   ("1.3.6.1.2.1.2.2.1.1.3", 3)])
    assert vb.sysName == "core-sw" and vb["SNMPv2-MIB::sysName"] == "core-sw"  # table and pysnmp's SNMPv2-MIB
    assert vb["RFC1213-MIB::ipAdEntAddr"] == "10.0.0.2"  # only in pysnmp's RFC1213-MIB
    assert vb.ifIndex == 3 and vb.get("NO-SUCH-MIB::thing") is None


def test_unmapped_drop_is_not_even_kept_raw_but_raw_is(tmp_path) -> None:
    for mode, dropped in (("drop", 1), ("raw", 0)):
        files = {**MAPS, "connectors.d/traps.yaml": f"""
        name: traps
        type: snmp_trap
        listen: ["127.0.0.1:1162"]
        communities: ["${{env:C:-public}}"]
        unmapped: {mode}
        """}
        p = pipeline(tmp_path / mode, files)
        fx = p.process(trap("1.3.6.1.4.1.99999.1.2", "10.0.0.7"))
        assert fx.created == () and fx.dropped == dropped and fx.event is not None
        p.close()
