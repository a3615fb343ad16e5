"""Replay on GitOps sync: what each synced commit would have done to the last day.

When a commit is synced (applied or refused), its tree is replayed against the tree that
was running before, over the recent history in the engine's database, in the background;
the result is shown on /config and in GET /api/v1/config ("this change: +3 pages to
oncall-pager, −120 e-mails, 4 alerts newly suppressed under site1-switch"). With a
`replay_gate` in the server settings, the replay runs first and a commit that would page
more than `max_extra_pages` extra times is refused.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from ..config.durations import parse_duration
from ..pipeline.effects import TELLS
from .diff import ReplayDiff
from .run import HistorySource, replay

log = logging.getLogger("opsconductor.replay")
DEFAULT_SPAN = 24 * 3600.0


@dataclass(frozen=True)
class ReplayGate:
    """From the server settings' `replay_gate:`; max_extra_pages None = report only."""

    since: float = DEFAULT_SPAN
    max_extra_pages: int | None = None

    @classmethod
    def from_settings(cls, doc: Mapping[str, Any] | None) -> "ReplayGate":
        doc = doc or {}
        since = doc.get("since")
        return cls(parse_duration(since) if since else DEFAULT_SPAN, doc.get("max_extra_pages"))


def extra_pages(diff: ReplayDiff) -> int:
    """Notifications that tell of a problem (firing, repeat, escalated, released) the
    candidate sends beyond the baseline."""
    return sum(after - before for key, (before, after) in diff.moved["notifications"].items()
               if key.rpartition(" ")[2] in TELLS)


def headline(diff: ReplayDiff) -> str:
    """One line for a person: what the change does to pages, and to suppression."""
    if diff.no_change:
        return "no change over the replayed span"
    by_channel: dict[str, int] = {}
    for key, (before, after) in diff.moved["notifications"].items():
        channel, _, kind = key.rpartition(" ")
        if kind in TELLS:
            by_channel[channel] = by_channel.get(channel, 0) + after - before
    parts = [f"{n:+d} notifications to {channel}" for channel, n in sorted(by_channel.items()) if n]
    suppressed = diff.moved["counts"].get("suppressed")
    if suppressed:
        parts.append(f"{suppressed[1] - suppressed[0]:+d} alerts suppressed")
    for root, (before, after) in sorted(diff.moved["suppressed_under"].items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))[:3]:
        parts.append(f"{after - before:+d} under {root.split(':')[0]}")
    if diff.changed_total:
        parts.append(f"{diff.changed_total} alerts decided differently")
    return "this change: " + ", ".join(parts)


class CommitReplays:
    """The replays of synced commits: one at a time, the latest kept for the dashboard."""

    def __init__(self, database_url: str, gate: ReplayGate):
        self.database_url = database_url
        self.gate = gate
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None

    def latest(self) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._latest) if self._latest else None

    def run(self, commit: str, candidate: Path, baseline: Path) -> ReplayDiff | None:
        """Replay now (the gate waits for it); the result is also the latest shown."""
        until = datetime.now(timezone.utc)
        since = until - timedelta(seconds=self.gate.since)
        self._set(commit, "running", since=since, until=until)
        try:
            diff = replay(candidate, baseline, HistorySource(self.database_url, since=since, until=until)).diff
        except Exception as exc:  # noqa: BLE001 - a replay that fails must never fail the sync
            log.error("replay of %s failed: %s", commit[:12], exc)
            self._set(commit, "failed", error=str(exc), since=since, until=until)
            return None
        self._set(commit, "done", since=since, until=until, headline=headline(diff), extra_pages=extra_pages(diff),
                  events=diff.baseline["events"], changed_alerts=diff.changed_total,
                  notifications={k: {"before": b, "after": a} for k, (b, a) in diff.moved["notifications"].items()})
        log.info("replay of %s over the last %s: %s", commit[:12], _span(self.gate.since), headline(diff))
        return diff

    def in_background(self, commit: str, candidate: Path, baseline: Path) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(commit, candidate, baseline), daemon=True,
                                  name=f"replay-{commit[:12]}")
        thread.start()
        return thread

    def _set(self, commit: str, state: str, **detail: Any) -> None:
        for key in ("since", "until"):
            if isinstance(detail.get(key), datetime):
                detail[key] = detail[key].isoformat()
        with self._lock:
            self._latest = {"commit": commit, "state": state, **detail}


def _span(seconds: float) -> str:
    return f"{seconds / 3600:g} h"
