"""One pipeline batch → one transaction: raw events, new alerts, occurrences, engine
status changes and the decision trail, then NOTIFY so dashboards update live."""
from __future__ import annotations

from collections.abc import Sequence

import psycopg

from ..model import Alert, RawEvent
from .alerts import Occurrence, insert_alerts, record_occurrences
from .decisions import Decision as StoredDecision
from .decisions import record_decisions
from .raw_events import insert_raw_events
from .transitions import EngineChange, apply_engine_changes

NOTIFY_CHANNEL = "opsc_alerts"
_NOTIFY_MAX = 7900  # PostgreSQL's payload limit is 8000 bytes


def write_batch(conn: psycopg.Connection, raw_events: Sequence[RawEvent], effects: Sequence,
                config_version_id: int | None) -> list[str]:
    """Persist what a batch of events did; returns the ids of the alerts it touched."""
    created = [a for fx in effects for a in fx.created]
    occurrences = [Occurrence(a.id, a.last_occurrence_at or a.received_at) for fx in effects for a in fx.occurrences]
    changes = [EngineChange(c.alert, c.action, c.old_status) for fx in effects for c in fx.changes]
    decisions = [StoredDecision(d.alert_id, d.stage, d.rule, d.config_version_id, dict(d.detail))
                 for fx in effects for d in fx.decisions]
    with conn.transaction():
        insert_raw_events(conn, raw_events, config_version_id=config_version_id)
        for group in _referents_first(created):
            insert_alerts(conn, group)
        record_occurrences(conn, occurrences)
        apply_engine_changes(conn, changes)
        record_decisions(conn, decisions)
        touched = list(dict.fromkeys([*(a.id for a in created), *(o.alert_id for o in occurrences),
                                      *(c.alert.id for c in changes)]))
        if touched:
            payload = ",".join(touched)
            if len(payload) > _NOTIFY_MAX:
                payload = payload[:_NOTIFY_MAX].rsplit(",", 1)[0]
            conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))
    return touched


def _referents_first(alerts: list[Alert]) -> list[list[Alert]]:
    """Groups to insert in order, so an alert linked to another of the same batch comes after it
    (alerts.correlated_to_id is a foreign key)."""
    pending = list(alerts)
    done: set[str] = set()
    in_batch = {a.id for a in alerts}
    groups = []
    while pending:
        ready = [a for a in pending if a.correlated_to_id not in in_batch or a.correlated_to_id in done]
        if not ready:  # a cycle cannot happen (links point at roots); write the rest anyway
            ready = pending
        groups.append(ready)
        done.update(a.id for a in ready)
        pending = [a for a in pending if a.id not in done]
    return groups
