"""The decision trail of an alert (table alert_decisions), read by `opsc explain` and the
alert page.

Each pipeline stage that decides something about an alert (normalized by, enriched by,
suppressed by, correlated under, routed to) records it here, naming the rule and the
config version it came from; the engine's batches write it (store/batch.py), in the same
transaction as the alert change it explains. A row's detail is a typed event of
engine/events.py (its encode() is the JSONB; decode() reads it back).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import psycopg

from ..events import DecisionEvent, decode


@dataclass(frozen=True)
class DecisionEntry:
    id: int
    alert_id: str
    stage: str
    rule: str
    config_version_id: int | None
    detail: Mapping[str, Any]  # as stored
    created_at: datetime

    @property
    def event(self) -> DecisionEvent:
        return decode(self.stage, self.detail)

    def describe(self) -> str:
        """What was decided, in the words explain and the alert page share."""
        return self.event.describe()


def list_decisions(conn: psycopg.Connection, alert_id: str) -> list[DecisionEntry]:
    """The trail of one alert, first decision first."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, alert_id::text, stage, rule, config_version_id, detail, created_at"
            " FROM alert_decisions WHERE alert_id = %s ORDER BY id",
            (alert_id,),
        ).fetchall()
    return [DecisionEntry(*row) for row in rows]
