"""Raw events: stored by a batch, listed for replay, purged after the retention."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from opsconductor.engine.model import RawEvent
from opsconductor.engine.store.config_versions import record_applied
from opsconductor.engine.store.direct import store_raw_events
from opsconductor.engine.store.raw_events import list_raw_events, purge_raw_events

NOW = datetime.now(timezone.utc)


def event(n: int, connector: str = "snmp-main", age: timedelta = timedelta(0)) -> RawEvent:
    return RawEvent(event_id=f"ev-{n}", connector=connector, source_system="snmp_trap",
                    received_at=NOW - age, source_address="192.0.2.7:162",
                    payload={"oid": "1.3.6.1.6.3.1.1.5.3", "varbinds": ({"n": n},)})  # fmt: skip


def test_batch_insert_and_list_in_order(db_conn):
    version = record_applied(db_conn, content_hash="a" * 64)
    store_raw_events(db_conn, [event(n) for n in range(250)], config_version_id=version.id)
    page = list_raw_events(db_conn, limit=100)
    assert [s.event.event_id for s in page] == [f"ev-{n}" for n in range(100)]  # in the batch's order
    stored = page[0].event
    assert stored == replace(event(0), payload={"oid": "1.3.6.1.6.3.1.1.5.3", "varbinds": [{"n": 0}]})
    assert page[0].config_version_id == version.id
    rest = list_raw_events(db_conn, after_id=page[-1].id, limit=1000)
    assert [s.event.event_id for s in rest] == [f"ev-{n}" for n in range(100, 250)]


def test_list_by_connector_and_time_range(db_conn):
    store_raw_events(db_conn, [event(1, "prtg", timedelta(hours=3)), event(2, "prtg", timedelta(hours=1)),
                                event(3, "snmp-main", timedelta(hours=1)), event(4, "prtg")])  # fmt: skip
    found = list_raw_events(db_conn, connector="prtg", since=NOW - timedelta(hours=2), until=NOW)
    assert [s.event.event_id for s in found] == ["ev-2"]


def test_purge_deletes_only_older_events_in_batches(db_conn):
    store_raw_events(db_conn, [event(n, age=timedelta(days=10)) for n in range(25)] + [event(99)])
    assert purge_raw_events(db_conn, timedelta(days=7), batch=10) == 25
    assert [s.event.event_id for s in list_raw_events(db_conn)] == ["ev-99"]
    assert purge_raw_events(db_conn, timedelta(days=7)) == 0
