"""The decision trail of an alert (table alert_decisions), read by `opsc explain` and the
alert page.

Each pipeline stage that decides something about an alert (normalized by, enriched by,
suppressed by, correlated under, routed to) records it here, naming the rule and the
config version it came from; the pipeline's rows go through store/batch.py. A row's detail
is a typed event of engine/events.py (its encode() is the JSONB; decode() reads it back).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

import psycopg

from ..events import DecisionEvent, decode
from ..model import EMPTY
from .jsonb import jsonb


@dataclass(frozen=True)
class Decision:
    """A row as written outside the pipeline (tests, demo data): its detail a typed event, or
    a mapping stored as it is (rows of no known kind, as older versions wrote them)."""

    alert_id: str
    stage: str  # normalize | enrich | correlate | route
    rule: str  # the rule (or built-in, e.g. "builtin:prtg") that decided
    config_version_id: int | None = None
    detail: DecisionEvent | Mapping[str, Any] = field(default_factory=lambda: EMPTY)


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


def record_decisions(conn: psycopg.Connection, decisions: Sequence[Decision]) -> None:
    """Append decisions, in order (their ids give the order of the trail)."""
    if not decisions:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO alert_decisions (alert_id, stage, rule, config_version_id, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(d.alert_id, d.stage, d.rule, d.config_version_id, jsonb(_encoded(d.detail))) for d in decisions],
        )


def _encoded(detail: DecisionEvent | Mapping[str, Any]) -> Mapping[str, Any]:
    return detail.encode() if isinstance(detail, DecisionEvent) else detail


def list_decisions(conn: psycopg.Connection, alert_id: str) -> list[DecisionEntry]:
    """The trail of one alert, first decision first."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT id, alert_id::text, stage, rule, config_version_id, detail, created_at"
            " FROM alert_decisions WHERE alert_id = %s ORDER BY id",
            (alert_id,),
        ).fetchall()
    return [DecisionEntry(*row) for row in rows]
