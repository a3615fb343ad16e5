"""Silences an operator creates and ends in a rule test, kept as the database keeps ad-hoc
silences and handed to the engine the way `opsc serve` does (Engine.silences_changed): the
live ones, through pipeline.silences.adhoc and parse_match, into ActiveAlerts.adhoc_silences."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from ..config.durations import parse_duration
from ..pipeline.silences import StoredSilence, adhoc
from ..pipeline.state import ActiveAlerts
from .inputs import plain


class Silences:
    def __init__(self) -> None:
        self.by_name: dict[str, StoredSilence] = {}  # the test's name for it → as stored

    def create(self, spec: Mapping[str, Any], now: datetime) -> StoredSilence:
        """POST /api/v1/silences: starts now, ends `for` later."""
        stored = StoredSilence(len(self.by_name) + 1, plain(spec["match"]), now,
                               now + timedelta(seconds=parse_duration(spec["for"])),
                               str(spec.get("owner", "rule-test")), str(spec.get("comment", "")), created_at=now)
        adhoc(stored)  # refuses matchers the API would refuse (ValueError naming the field)
        self.by_name[spec["name"]] = stored
        return stored

    def end(self, name: str, now: datetime) -> StoredSilence | None:
        """DELETE /api/v1/silences/{id}, as store.silences.end: ended now (None when already over)."""
        stored = self.by_name.get(name)
        if stored is None or stored.deleted_at is not None or stored.ends_at <= now:
            return None
        ended = replace(stored, deleted_at=now,
                        ends_at=max(stored.starts_at + timedelta(microseconds=1), min(stored.ends_at, now)))
        self.by_name[name] = ended
        return ended

    def publish(self, state: ActiveAlerts, now: datetime) -> None:
        """Engine.silences_changed: the live ones (not ended) become the engine's."""
        state.adhoc_silences = tuple(adhoc(s) for s in self.by_name.values()
                                     if s.deleted_at is None and s.ends_at > now)
