"""Every notification kind (pipeline.effects.KINDS) fits the outbox as the migrations made it
(012: `kind VARCHAR(16)`, no CHECK constraint) and comes back from it as written: the engine
writes a batch's notifications there and the notifier reads them back."""
from __future__ import annotations

import re

import psycopg

from opsconductor.engine.pipeline.effects import KINDS, Effects, Notification
from opsconductor.engine.store.direct import store_effects
from opsconductor.engine.store.outbox import read_pending

from .test_alerts import T0, make_alert, stored


def test_the_outbox_column_takes_every_kind(db_conn: psycopg.Connection) -> None:
    (width,) = db_conn.execute(
        "SELECT character_maximum_length FROM information_schema.columns"
        " WHERE table_name = 'notification_outbox' AND column_name = 'kind'").fetchone()
    assert width is not None and max(len(k) for k in KINDS) <= width
    checks = [d for (d,) in db_conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'notification_outbox'::regclass AND contype = 'c'").fetchall() if "kind" in d]
    for definition in checks:  # none today; one added later must allow exactly the engine's kinds
        assert set(re.findall(r"'([a-z_]+)'", definition)) == set(KINDS)


def test_each_kind_is_read_back_as_written(db_conn: psycopg.Connection) -> None:
    (alert,) = stored(db_conn, make_alert(1))
    notifications = tuple(Notification(alert, "page", "ch", kind, T0) for kind in KINDS)
    store_effects(db_conn, [Effects(None, notifications=notifications)])
    assert tuple(row.kind for row in read_pending(db_conn, 0, 100)) == KINDS
