"""Two runs of one history compared: the counts that moved, and the alerts whose trail
differs (largest change in notifications first). The trails are joined on disk (SQLite),
so comparing a week of alerts needs no more memory than comparing ten."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SECTIONS = ("counts", "by_type", "by_rule", "suppressed_under", "notifications")


@dataclass(frozen=True)
class ChangedAlert:
    key: str  # the alert's identity: fingerprint prefix @ seconds from the span's start it was made at
    title: str
    before: str | None  # the trail in the baseline run (None: the alert did not exist)
    after: str | None
    pages_before: int
    pages_after: int


@dataclass(frozen=True)
class ReplayDiff:
    baseline: dict  # Summary.as_dict() of each run
    candidate: dict
    moved: dict[str, dict[str, tuple[int, int]]]  # section → key → (before, after), only keys that moved
    changed: tuple[ChangedAlert, ...]  # the first `limit`, largest first
    changed_total: int

    @property
    def no_change(self) -> bool:
        return not self.changed_total and not any(self.moved.values())


def diff_runs(baseline: dict, baseline_trails: Path, candidate: dict, candidate_trails: Path,
              limit: int = 50) -> ReplayDiff:
    moved = {section: _moved(baseline.get(section, {}), candidate.get(section, {})) for section in SECTIONS}
    db = sqlite3.connect(":memory:")
    try:
        db.execute("ATTACH DATABASE ? AS a", (str(baseline_trails),))
        db.execute("ATTACH DATABASE ? AS b", (str(candidate_trails),))
        differs = """
            SELECT a.key AS key, a.title AS title, a.trail AS before, b.trail AS after,
                   a.pages AS pages_before, COALESCE(b.pages, 0) AS pages_after
            FROM a.trails a LEFT JOIN b.trails b ON b.key = a.key WHERE b.key IS NULL OR b.trail <> a.trail
            UNION ALL
            SELECT b.key, b.title, NULL, b.trail, 0, b.pages
            FROM b.trails b LEFT JOIN a.trails a ON a.key = b.key WHERE a.key IS NULL"""
        (total,) = db.execute(f"SELECT count(*) FROM ({differs})").fetchone()
        rows = db.execute(f"SELECT * FROM ({differs}) ORDER BY abs(pages_after - pages_before) DESC, key LIMIT ?",
                          (limit,)).fetchall()
    finally:
        db.close()
    changed = tuple(ChangedAlert(key, title, before, after, pages_before, pages_after)
                    for key, title, before, after, pages_before, pages_after in rows)
    return ReplayDiff(baseline, candidate, moved, changed, total)


def _moved(before: dict, after: dict) -> dict[str, tuple[int, int]]:
    return {key: (before.get(key, 0), after.get(key, 0)) for key in sorted(before.keys() | after.keys())
            if before.get(key, 0) != after.get(key, 0)}
