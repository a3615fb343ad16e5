"""Connector runtime status: status, timestamps, counters with the daily reset."""
from __future__ import annotations

from datetime import date, datetime, timezone

import psycopg
import pytest

from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.connector_status import ConnectorStatus, count_alerts, list_runtime, set_status
from opsconductor.engine.store.projection import ConfigProjection, ConnectorRow, apply_projection


@pytest.fixture
def conn(db_conn):
    rows = (ConnectorRow("prtg-main", "prtg", True, {}),)
    apply_projection(db_conn, ConfigProjection(connectors=rows), record_applied(db_conn, content_hash="a").id)
    return db_conn


def test_status_and_timestamps(conn):
    at = datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)
    assert set_status(conn, "prtg-main", ConnectorStatus.FAILING, error_message="401", polled_at=at)
    (r,) = list_runtime(conn)
    assert (r.status, r.error_message, r.last_poll_at, r.last_success_at) == (ConnectorStatus.FAILING, "401", at, None)
    assert set_status(conn, "prtg-main", ConnectorStatus.OK, polled_at=at, succeeded_at=at)
    (r,) = list_runtime(conn)
    assert (r.status, r.error_message, r.last_success_at) == (ConnectorStatus.OK, None, at)
    assert not set_status(conn, "no-such-connector", ConnectorStatus.OK)


def test_unknown_status_is_refused(conn):
    with pytest.raises(ValueError):
        set_status(conn, "prtg-main", "exploded")
    with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
        conn.execute("UPDATE connectors SET status = 'exploded'")


def test_alerts_today_resets_on_a_new_day(conn):
    monday, tuesday = date(2026, 1, 12), date(2026, 1, 13)
    count_alerts(conn, "prtg-main", 5, today=monday)
    count_alerts(conn, "prtg-main", 2, today=monday)
    (r,) = list_runtime(conn, today=monday)
    assert (r.alerts_received, r.alerts_today) == (7, 7)
    (r,) = list_runtime(conn, today=tuesday)
    assert (r.alerts_received, r.alerts_today) == (7, 0)  # nothing counted yet today
    count_alerts(conn, "prtg-main", 1, today=tuesday)
    (r,) = list_runtime(conn, today=tuesday)
    assert (r.alerts_received, r.alerts_today) == (8, 1)
