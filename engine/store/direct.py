"""The production write path, in this process and without the worker: what tests, benches
and demo data use to put alerts and operators' changes into a database.

There is one way alerts reach the database: Effects (what the stages decided) →
prepare_batch → store_batch, in one transaction (store/batch.py). `opsc serve` runs it
through the writer process; these helpers call it directly, so what they store is exactly
what the engine would have stored.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import cast

import psycopg

from ..ids import new_id
from ..model import Alert, RawEvent, StoredAlert
from ..pipeline.commands import CommandAnswer, OperatorCommand, Outcome
from ..pipeline.effects import Change, Effects
from ..pipeline.pipeline import Pipeline
from ..pipeline.state import ActiveAlerts
from .alerts import load_active_alerts
from .batch import BatchResult, write_batch


def store_effects(conn: psycopg.Connection, effects: Sequence[Effects], raw_events: Sequence[RawEvent] = (),
                  config_version_id: int | None = None) -> BatchResult:
    """One batch: these effects (and raw events) in one transaction."""
    return write_batch(conn, raw_events, effects, config_version_id)


def store_alerts(conn: psycopg.Connection, alerts: Sequence[Alert], config_version_id: int | None = None) -> list[str]:
    """Alerts stored as the pipeline creates them (a 'created' history row each), as they
    are (status, links); one without an id gets one. Returns their ids, in order."""
    stored = [cast(StoredAlert, a if a.id else replace(a, id=new_id())) for a in alerts]
    store_effects(conn, [Effects(None, created=tuple(stored))], config_version_id=config_version_id)
    return [a.id for a in stored]


def store_changes(conn: psycopg.Connection, changes: Sequence[Change], config_version_id: int | None = None) -> None:
    """Status changes of stored alerts (each Change: the alert as it is after it), with their
    history rows, as the stages decide them (a clear, a suppression under a root, …)."""
    store_effects(conn, [Effects(None, changes=tuple(changes))], config_version_id=config_version_id)


def run_command(conn: psycopg.Connection, pipeline: Pipeline, command: OperatorCommand,
                now: datetime | None = None) -> CommandAnswer:
    """An operator's command as the engine applies it: the pipeline's view rebuilt from the
    database's open alerts (as at a start), the command stage run, the change written."""
    state = ActiveAlerts()
    state.rebuild(load_active_alerts(conn))
    fx = pipeline.with_state(state).command(command, now or datetime.now(timezone.utc))
    assert fx.answer is not None
    if fx.answer.outcome is Outcome.APPLIED:
        store_effects(conn, [fx], config_version_id=pipeline.view.version_id)
    return fx.answer
