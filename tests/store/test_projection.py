"""The config projection: add, change, remove — in one transaction, runtime columns kept."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from types import MappingProxyType

import pytest

from opsconductor.engine.errors import StoreError
from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.connector_status import ConnectorStatus, count_alerts, list_runtime, set_status
from opsconductor.engine.store.notification_log import NotificationAttempt, record_notifications
from opsconductor.engine.store.projection import (
    ConfigProjection, ConnectorRow, DependencyRow, NotificationRuleRow, OidMappingRow, TableStats, apply_projection,
)  # fmt: skip

PRTG = ConnectorRow("prtg-main", "prtg", True, MappingProxyType({"url": "https://prtg", "api_token": "***"}))
SNMP = ConnectorRow("snmp-traps", "snmp_trap", True, {"port": 162, "communities": ("***",)})
COLD = OidMappingRow("1.3.6.1.6.3.1.1.5.1", None, "cold_start", "network", "warning", "Device Cold Start - {{ device_name }}")
CIENA = OidMappingRow("1.3.6.1.4.1.6141.2.60.5.*", "ciena", "equipment_alarm", "network", "major")
DEP = DependencyRow("10.0.0.2", "10.0.0.1", "network", "access behind core")
RULE = NotificationRuleRow("critical-to-noc", "page the NOC", True, 10, MappingProxyType({"severity": ["critical"]}),
                           ({"type": "email", "to": "noc@example.net"},), 5)  # fmt: skip

FULL = ConfigProjection(connectors=(PRTG, SNMP), oid_mappings=(COLD, CIENA), dependencies=(DEP,),
                        notification_rules=(RULE,))  # fmt: skip


def _version(conn) -> int:
    return record_applied(conn, content_hash="h" * 64).id


def _rows(conn, query):
    return conn.execute(query).fetchall()


def test_first_projection_inserts_everything(db_conn):
    v1 = _version(db_conn)
    stats = apply_projection(db_conn, FULL, v1)
    assert stats.connectors == TableStats(inserted=2)
    assert stats.oid_mappings == TableStats(inserted=2)
    assert stats.dependencies == TableStats(inserted=1)
    assert stats.notification_rules == TableStats(inserted=1)
    assert _rows(db_conn, "SELECT name, type, enabled, config, config_version_id FROM connectors ORDER BY name") == [
        ("prtg-main", "prtg", True, {"url": "https://prtg", "api_token": "***"}, v1),
        ("snmp-traps", "snmp_trap", True, {"port": 162, "communities": ["***"]}, v1),
    ]
    assert _rows(db_conn, "SELECT match_key, vendor FROM oid_mappings ORDER BY match_key") == [
        ("1.3.6.1.4.1.6141.2.60.5.*|ciena", "ciena"), ("1.3.6.1.6.3.1.1.5.1|", None)]  # fmt: skip
    assert _rows(db_conn, "SELECT conditions, channels, throttle_minutes FROM notification_rules") == [
        ({"severity": ["critical"]}, [{"type": "email", "to": "noc@example.net"}], 5)]  # fmt: skip


def test_same_config_again_changes_nothing(db_conn):
    apply_projection(db_conn, FULL, _version(db_conn))
    stats = apply_projection(db_conn, FULL, _version(db_conn))
    assert not stats.changed


def test_tables_the_previous_projection_already_holds_are_not_read(db_conn):
    """The reload passes what it applied last: only the tables whose rows differ are synced."""
    apply_projection(db_conn, FULL, _version(db_conn))
    renamed = replace(FULL, notification_rules=(replace(RULE, name="renamed"),))
    stats = apply_projection(db_conn, renamed, _version(db_conn), previous=FULL)
    assert stats.notification_rules == TableStats(inserted=1, deleted=1)
    assert (stats.connectors, stats.oid_mappings, stats.dependencies) == (TableStats(),) * 3
    assert _rows(db_conn, "SELECT name FROM notification_rules") == [("renamed",)]
    assert len(_rows(db_conn, "SELECT 1 FROM oid_mappings")) == 2


def test_a_table_that_does_not_hold_the_previous_projection_is_synced_in_full(db_conn):
    apply_projection(db_conn, FULL, _version(db_conn))
    db_conn.execute("DELETE FROM notification_rules")  # not what `previous` says the table holds
    changed = replace(FULL, notification_rules=(replace(RULE, name="renamed"), replace(RULE, name="added")))
    stats = apply_projection(db_conn, changed, _version(db_conn), previous=FULL)
    assert stats.notification_rules == TableStats(inserted=2)
    assert _rows(db_conn, "SELECT name FROM notification_rules ORDER BY name") == [("added",), ("renamed",)]


@pytest.mark.parametrize("incremental", [False, True], ids=["tables read", "from the previous projection"])
def test_add_change_remove_keeps_ids_and_runtime_columns(db_conn, incremental):
    v1 = _version(db_conn)
    apply_projection(db_conn, FULL, v1)
    polled = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
    assert set_status(db_conn, "prtg-main", ConnectorStatus.DEGRADED, error_message="slow API",
                      polled_at=polled, succeeded_at=polled)  # fmt: skip
    count_alerts(db_conn, "prtg-main", 3)
    db_conn.execute("UPDATE notification_rules SET last_triggered_at = %s", (polled,))
    prtg_id, rule_id = db_conn.execute(
        "SELECT (SELECT id FROM connectors WHERE name = 'prtg-main'), (SELECT id FROM notification_rules)").fetchone()

    v2 = _version(db_conn)
    changed = ConfigProjection(
        connectors=(replace(PRTG, config={"url": "https://prtg2", "api_token": "***"}),
                    ConnectorRow("uisp", "ubiquiti", False, {})),
        oid_mappings=(COLD,),
        dependencies=(replace(DEP, description="moved"),),
        notification_rules=(replace(RULE, priority=20),),
    )  # fmt: skip
    stats = apply_projection(db_conn, changed, v2, previous=FULL if incremental else None)
    assert stats.connectors == TableStats(inserted=1, updated=1, deleted=1)
    assert stats.oid_mappings == TableStats(deleted=1)
    assert stats.dependencies == TableStats(updated=1)
    assert stats.notification_rules == TableStats(updated=1)

    (runtime,) = [r for r in list_runtime(db_conn) if r.name == "prtg-main"]
    assert (runtime.status, runtime.error_message, runtime.last_poll_at) == (ConnectorStatus.DEGRADED, "slow API", polled)
    assert (runtime.alerts_received, runtime.alerts_today) == (3, 3)
    assert _rows(db_conn, "SELECT id, config->>'url', config_version_id FROM connectors WHERE name = 'prtg-main'") == [
        (prtg_id, "https://prtg2", v2)]  # fmt: skip
    # An untouched row keeps the version that last changed it.
    assert _rows(db_conn, "SELECT config_version_id FROM oid_mappings") == [(v1,)]
    assert _rows(db_conn, "SELECT id, priority, last_triggered_at FROM notification_rules") == [(rule_id, 20, polled)]
    assert _rows(db_conn, "SELECT name FROM connectors ORDER BY name") == [("prtg-main",), ("uisp",)]


def test_mappings_sharing_a_pattern_need_their_own_keys(db_conn):
    v1 = _version(db_conn)
    by_varbind = replace(CIENA, alert_type="power_alarm", match_key="ciena-power")
    stats = apply_projection(db_conn, ConfigProjection(oid_mappings=(CIENA, by_varbind)), v1)
    assert stats.oid_mappings == TableStats(inserted=2)
    with pytest.raises(StoreError, match=r"oid_mappings: two config entries share the key match_key='1\.3"):
        apply_projection(db_conn, ConfigProjection(oid_mappings=(CIENA, replace(CIENA, alert_type="x"))), v1)


def test_a_failing_projection_changes_nothing(db_conn):
    v1 = _version(db_conn)
    apply_projection(db_conn, FULL, v1)
    self_loop = DependencyRow("10.0.0.9", "10.0.0.9")  # refused by the seed's CHECK
    broken = replace(FULL, connectors=(PRTG,), dependencies=(DEP, self_loop))
    with pytest.raises(StoreError, match="dependencies_no_self_reference"):
        apply_projection(db_conn, broken, _version(db_conn))
    assert _rows(db_conn, "SELECT count(*) FROM connectors") == [(2,)]
    assert _rows(db_conn, "SELECT count(*) FROM dependencies") == [(1,)]


def test_removing_a_rule_keeps_its_notification_log(db_conn):
    v1 = _version(db_conn)
    apply_projection(db_conn, FULL, v1)
    (log_id,) = record_notifications(db_conn, [NotificationAttempt(None, "email", "noc@example.net", "sent",
                                                                    rule_name="critical-to-noc")])  # fmt: skip
    assert _rows(db_conn, "SELECT rule_id IS NOT NULL FROM notification_log") == [(True,)]
    apply_projection(db_conn, replace(FULL, notification_rules=()), _version(db_conn))
    assert _rows(db_conn, "SELECT id::text, rule_id, rule_name FROM notification_log") == [
        (log_id, None, "critical-to-noc")]  # fmt: skip
