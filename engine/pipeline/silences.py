"""Silences (maintenance windows as code): matching alerts are stored and visible, but
nobody is told while the silence holds; when it ends, alerts still active are notified."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from ..config.bundle import Silence
from ..model import Alert
from ..rules.fields import alert_fields
from ..rules.predicates import matcher_holds, window_holds
from .context import ConfigView


@lru_cache(maxsize=1024)
def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def holds(silence: Silence, fields: dict, now: datetime) -> bool:
    start, end = _when(silence.starts_at), _when(silence.ends_at)
    if (start and now < start) or (end and now >= end):
        return False
    if silence.schedule is not None and not window_holds(silence.schedule, now):
        return False
    return all(matcher_holds(m, fields) for m in silence.match)


def active_silence(alert: Alert, view: ConfigView, now: datetime) -> Silence | None:
    if not view.bundle.silences:
        return None
    fields = alert_fields(alert, view.site(alert.device_ip))
    return next((s for s in view.bundle.silences if holds(s, fields, now)), None)
