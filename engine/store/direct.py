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
from typing import Any, Mapping, cast

import psycopg

from ..config.bundle import Bundle
from ..ids import new_id
from ..model import Alert, HistoryAction, RawEvent, Status, StoredAlert, evolve
from ..pipeline.commands import CommandAnswer, OperatorCommand, Outcome
from ..events import Decision
from ..pipeline.effects import FLAPPING, Change, ChangeAction, Effects
from ..pipeline.pipeline import Pipeline
from ..pipeline.silences import StoredSilence
from ..pipeline.silencing import CreateSilence, SilenceAnswer, SilenceCommand
from ..pipeline.state import ActiveAlerts
from ..rules.host import RulesHost
from .alerts import get_alert, load_active_alerts
from .batch import BatchResult, write_batch
from .silences import live, reserve_id


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


def store_raw_events(conn: psycopg.Connection, events: Sequence[RawEvent], config_version_id: int | None = None) -> None:
    """Raw events alone, as a batch whose events made no alert."""
    store_effects(conn, [], raw_events=events, config_version_id=config_version_id)


def store_decisions(conn: psycopg.Connection, decisions: Sequence[Decision]) -> None:
    """Decision-trail rows of stored alerts, as the stages record them."""
    store_effects(conn, [Effects(None, decisions=tuple(decisions))])


def change_stored(conn: psycopg.Connection, alert_id: str, action: str, status: Status, **fields: Any) -> None:
    """One engine change of a stored alert (`suppressed` under a root, `cleared`, …): the
    alert as read back, moved to `status` with `fields` (correlated_to_id, correlation_rule)."""
    record = get_alert(conn, alert_id)
    assert record is not None, f"no alert {alert_id}"
    alert = record.alert
    typed: ChangeAction = FLAPPING if action == FLAPPING else HistoryAction(action)  # an unknown one: ValueError
    store_changes(conn, [Change(evolve(alert, status=status, **fields), typed, alert.status)])


def run_command(conn: psycopg.Connection, command: OperatorCommand | SilenceCommand, pipeline: Pipeline | None = None,
                now: datetime | None = None) -> CommandAnswer | SilenceAnswer:
    """An operator's command as the engine applies it: the pipeline's view (default: one of an
    empty config) rebuilt from the database's open alerts and silences, as at a start; the
    command stages run; the change written."""
    if pipeline is None:
        bare = Pipeline(Bundle("", "", None, ()), RulesHost(), normalizers={})  # commands normalize nothing
        try:
            return run_command(conn, command, bare, now)
        finally:
            bare.close()
    state = ActiveAlerts()
    state.rebuild(load_active_alerts(conn))
    state.set_silences(live(conn))
    fx = pipeline.with_state(state).command(command, now or datetime.now(timezone.utc))
    assert fx.answer is not None
    if fx.answer.outcome is Outcome.APPLIED:
        store_effects(conn, [fx], config_version_id=pipeline.view.version_id)
    return fx.answer


def create_silence(conn: psycopg.Connection, matchers: Mapping[str, Any], starts_at: datetime, ends_at: datetime,
                   by: str, comment: str, now: datetime | None = None) -> StoredSilence:
    """An operator's ad-hoc silence as the engine makes it (numbered from the sequence, the
    command stage, the write path), at `now` (default: the clock)."""
    answer = run_command(conn, CreateSilence(reserve_id(conn), matchers, starts_at, ends_at, by, comment), now=now)
    assert isinstance(answer, SilenceAnswer) and answer.silence is not None, answer
    return answer.silence
