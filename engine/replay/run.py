"""`opsc replay`: the same history through the baseline tree and the candidate tree, one
process each (both cores), then the two runs compared.

Each process loads its tree with the one loader, reads the history itself (from
PostgreSQL with a server-side cursor, or from a history file), and simulates it with the
real pipeline; it returns its counts and leaves its trails in an SQLite file.
"""
from __future__ import annotations

import itertools
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from ..config.loader import load_tree
from ..errors import OpscError
from ..gc_tuning import tune_gc
from .diff import ReplayDiff, diff_runs
from .simulate import HistoryItem, at_of, simulate


class ReplayError(OpscError):
    """A replay that cannot run: a tree that does not load, an unreadable history."""


@dataclass(frozen=True)
class HistorySource:
    """Where the history comes from: a database URL or a history file, and the span."""

    database_url: str | None = None
    file: Path | None = None
    since: datetime | None = None
    until: datetime | None = None

    def items(self) -> Iterator[HistoryItem]:
        if self.file is not None:
            from .history_file import read_history

            yield from read_history(self.file, self.since, self.until)
            return
        if self.database_url is None:
            raise ReplayError("a replay reads its history from a database URL or a history file; neither was given")
        import psycopg

        from ..store.history import stream_operator_actions, stream_raw_events
        from .history_file import merged

        # Two connections: each stream holds its own server-side cursor open while they merge.
        with psycopg.connect(self.database_url) as events, psycopg.connect(self.database_url) as actions:
            yield from merged(stream_raw_events(events, self.since, self.until),
                              stream_operator_actions(actions, self.since, self.until))


@dataclass(frozen=True)
class Replay:
    diff: ReplayDiff
    candidate_dir: Path
    baseline_label: str


def run_tree(tree: str, source: HistorySource, trails: str) -> dict:
    """One process: load `tree`, replay the history through it; its counts as a dict."""
    tune_gc()  # as serve does: the open alerts it keeps would make the default collector busy
    result = load_tree(tree, with_git=False)
    if result.bundle is None:
        raise ReplayError(f"{tree}: the tree does not load:\n" + "\n".join(p.format() for p in result.errors))
    items = source.items()
    first = next(items, None)
    if first is None:
        start = source.since or datetime.now().astimezone()
        history: Iterator[HistoryItem] = iter(())
    else:
        start = source.since or at_of(first)
        history = itertools.chain((first,), items)
    return simulate(result.bundle, history, Path(trails), start=start, until=source.until).as_dict()


def replay(candidate: Path, baseline: Path, source: HistorySource, *, limit: int = 50,
           baseline_label: str | None = None) -> Replay:
    with tempfile.TemporaryDirectory(prefix="opsc-replay-") as work:
        trails = Path(work) / "baseline.sqlite", Path(work) / "candidate.sqlite"
        # spawn: the children build their own rules engines (durable_rules keeps process state).
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
            base = pool.submit(run_tree, str(baseline), source, str(trails[0]))
            cand = pool.submit(run_tree, str(candidate), source, str(trails[1]))
            base_counts, cand_counts = base.result(), cand.result()
        return Replay(diff_runs(base_counts, trails[0], cand_counts, trails[1], limit=limit), candidate,
                      baseline_label or str(baseline))
