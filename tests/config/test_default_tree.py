"""The default tree at the repository root is the example users copy: it must validate clean."""
from __future__ import annotations

from pathlib import Path

from opsconductor.engine.config.loader import load_tree
from opsconductor.engine.config.secrets import Secret
from opsconductor.engine.model import Severity

ROOT = Path(__file__).resolve().parents[2]


def load():
    result = load_tree(ROOT, environ={}, with_git=False)
    assert result.problems == (), [p.format() for p in result.problems]
    return result.bundle


def test_default_tree_validates_clean() -> None:
    bundle = load()
    assert len(bundle.content_hash) == 64
    assert {t.name for t in bundle.tests}  # the example rule tests ship with it


SEEDED = {"prtg", "mcp", "snmp_trap", "eaton", "axis", "milestone", "cradlepoint", "siklu", "ubiquiti"}


def test_seeded_connectors_all_disabled_except_trap_receiver() -> None:
    bundle = load()
    types = {c.type: c for c in bundle.connectors}
    assert set(types) >= SEEDED
    enabled = [c for c in bundle.connectors if c.enabled and c.type in SEEDED]
    assert [c.type for c in enabled] == ["snmp_trap"]
    port = int(enabled[0].settings["listen"][0].rsplit(":", 1)[1])
    assert port > 1024  # unprivileged
    # Besides the seed's: the reachability monitor's webhook (used by `opsc demo`), token-protected.
    (hook,) = [c for c in bundle.connectors if c.type == "webhook" and c.enabled]
    assert hook.enabled and str(hook.settings["auth"]["bearer_token"]).startswith("${env:MONITORING_WEBHOOK_TOKEN")


def test_every_connector_secret_is_a_reference() -> None:
    bundle = load()
    secret_keys = {"api_token", "password", "passhash", "community", "cp_api_id", "cp_api_key", "ecm_api_id", "ecm_api_key"}

    def walk(value, key=""):
        if isinstance(value, Secret):
            yield key, value
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from walk(v, key)
        elif hasattr(value, "items"):
            for k, v in value.items():
                yield from walk(v, k)
        elif key in secret_keys:
            raise AssertionError(f"secret-looking key {key} holds a literal")

    found = [pair for c in bundle.connectors for pair in walk(c.settings)]
    assert found and all(s.reference.startswith("${env:") for _, s in found)


def test_seed_oid_mappings_present() -> None:
    bundle = load()
    by_oid = {}
    for m in bundle.oid_mappings:
        by_oid.setdefault(m.pattern.text, []).append(m)
    seed = {"1.3.6.1.6.3.1.1.5.1": ("cold_start", Severity.WARNING), "1.3.6.1.6.3.1.1.5.2": ("warm_start", Severity.INFO),
            "1.3.6.1.6.3.1.1.5.3": ("link_down", Severity.MAJOR), "1.3.6.1.6.3.1.1.5.4": ("link_up", Severity.CLEAR),
            "1.3.6.1.6.3.1.1.5.5": ("auth_failure", Severity.WARNING),
            "1.3.6.1.4.1.6141.2.60.5.*": ("equipment_alarm", Severity.MAJOR)}
    for oid, (alert_type, severity) in seed.items():
        (m,) = by_oid[oid]
        assert (m.alert_type, m.severity) == (alert_type, severity)
    assert by_oid["1.3.6.1.6.3.1.1.5.4"][0].clears == ("link_down",)
    assert by_oid["1.3.6.1.6.3.1.1.5.3"][0].title == "Interface Down - {{ device_name }}"
    # Eaton: the real trap OIDs, the descriptor-in-varbind form, and the seed's rows as written
    # (the 534.1.7.x descriptors as trap OID patterns), each problem with its clear.
    seed_rows = {m.pattern.text: (m.alert_type, m.severity, m.clears) for m in bundle.oid_mappings
                 if m.pattern.prefix.startswith("1.3.6.1.4.1.534.1.7")}
    assert seed_rows == {"1.3.6.1.4.1.534.1.7.3.*": ("on_battery", Severity.WARNING, ()),
                         "1.3.6.1.4.1.534.1.7.4.*": ("low_battery", Severity.CRITICAL, ()),
                         "1.3.6.1.4.1.534.1.7.5.*": ("utility_restored", Severity.CLEAR, ("on_battery",))}
    assert by_oid["1.3.6.1.4.1.534.1.11.4.1.0.3"][0].alert_type == "on_battery"
    assert by_oid["1.3.6.1.4.1.534.1.11.4.1.0.4"][0].alert_type == "low_battery"
    assert by_oid["1.3.6.1.4.1.534.1.11.4.1.0.5"][0].clears == ("on_battery",)
    added = {c.equals: m.alert_type for m in by_oid["1.3.6.1.4.1.534.1.11.4.1.0.21"] for c in m.conditions}
    assert added["1.3.6.1.4.1.534.1.7.3"] == "on_battery" and added["1.3.6.1.4.1.534.1.7.4"] == "low_battery"
    # Siklu in both notification forms.
    assert "1.3.6.1.4.1.31926.3.11" in by_oid and "1.3.6.1.4.1.31926.3.0.11" in by_oid


def test_example_topology_and_rules() -> None:
    bundle = load()
    from opsconductor.engine.config.topology import Topology

    topo = Topology(bundle.dependencies)
    ups = {e.upstream for e in topo.upstreams("10.20.1.11")}
    assert ups == {"10.20.0.2", "10.20.0.5"}  # the switch (via the camera CIDR) and the UPS
    assert {e.upstream for e in topo.ancestors("10.20.1.11")} == {"10.20.0.2", "10.20.0.5", "10.20.0.1"}
    names = [r.name for r in bundle.rules]
    assert "page-critical-power" in names and "email-major-network" in names
