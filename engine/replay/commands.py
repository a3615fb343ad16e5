"""The `opsc replay` and `opsc history export` commands (argparse in engine/cli.py)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..config.durations import parse_duration
from ..errors import OpscError


def span_of(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    """--since 7d, or --from T [--until T]; times without a zone are UTC."""
    if args.since and (args.from_ or args.until):
        raise OpscError("give --since, or --from/--until, not both")
    if args.since:
        now = datetime.now(timezone.utc)
        return now - timedelta(seconds=parse_duration(args.since)), now
    return _time(args.from_, "--from"), _time(args.until, "--until")


def _time(text: str | None, flag: str) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise OpscError(f"{flag} {text!r}: expected a time like 2026-12-01T08:00 or 2026-12-01T08:00+01:00") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def cmd_replay(args: argparse.Namespace) -> int:
    from ..config.loader import load_tree
    from .baseline import tree_at_ref
    from .report import render
    from .run import HistorySource, replay

    try:
        since, until = span_of(args)
        if args.history:
            source = HistorySource(file=Path(args.history), since=since, until=until)
        else:
            source = HistorySource(database_url=_database_url(args), since=since, until=until)
        candidate = Path(args.config or os.environ.get("OPSC_CONFIG_DIR") or ".").resolve()
        with tempfile.TemporaryDirectory(prefix="opsc-baseline-") as work:
            if args.baseline:
                baseline, label = Path(args.baseline).resolve(), args.baseline
            elif args.baseline_ref:
                baseline, label = tree_at_ref(candidate, args.baseline_ref, Path(work)), args.baseline_ref
            else:
                baseline, label = running_tree(source, Path(work))
            started = time.monotonic()
            result = replay(candidate, baseline, source, limit=args.limit, baseline_label=label)
            elapsed = time.monotonic() - started
    except (OpscError, OSError) as exc:
        print(f"opsc replay: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the database (psycopg.Error) or a child process: said, not a traceback
        print(f"opsc replay: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    bundle = load_tree(candidate, with_git=False).bundle
    span = f" from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}" if since and until else ""
    print(render(result.diff, args.format, bundle=bundle, span=span, baseline=label,
                 root=args.config or os.environ.get("OPSC_CONFIG_DIR") or "."))
    events = result.diff.baseline["events"]
    if args.format == "text":
        print(f"\n({events} events through both trees in {elapsed:.1f}s)", file=sys.stderr)
    return 1 if args.exit_code and not result.diff.no_change else 0


def cmd_history_export(args: argparse.Namespace) -> int:
    import psycopg

    from ..store.history import stream_operator_actions, stream_raw_events
    from .history_file import merged, write_history

    try:
        since, until = span_of(args)
        url = _database_url(args)
        with psycopg.connect(url) as events, psycopg.connect(url) as actions:
            count = write_history(Path(args.output), merged(stream_raw_events(events, since, until),
                                                            stream_operator_actions(actions, since, until)),
                                  since=since, until=until)
    except (OpscError, psycopg.Error, OSError) as exc:
        print(f"opsc history export: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} events and operator actions to {args.output}")
    return 0


def running_tree(source, into: Path) -> tuple[Path, str]:
    """The default baseline: the version running now, as config_versions and config_trees keep it."""
    import psycopg

    from ..store.config_trees import load_tree_files, write_tree
    from ..store.config_versions import get_current

    if source.database_url is None:
        raise OpscError("with --history, say what to compare with: --baseline DIR or --baseline-ref REF")
    with psycopg.connect(source.database_url) as conn:
        current = get_current(conn)
        files = load_tree_files(conn, current.content_hash) if current is not None else None
    if current is None or files is None:
        raise OpscError("the database keeps no running version's text to compare with (it is stored from this release "
                        "on, at each reload): give --baseline DIR or --baseline-ref REF")
    label = f"the running version #{current.id}" + (f" ({current.git_commit[:12]})" if current.git_commit else "")
    return write_tree(files, into / "running"), label


def _database_url(args: argparse.Namespace) -> str:
    import os

    url = args.database_url or os.environ.get("OPSC_DATABASE_URL")
    if not url:
        raise OpscError("no history: give --database-url URL (or OPSC_DATABASE_URL) or --history FILE")
    return url


def add_span_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="the last span of this length, e.g. 24h or 7d")
    p.add_argument("--from", dest="from_", metavar="TIME", help="start, e.g. 2026-12-01T08:00 (UTC unless a zone is given)")
    p.add_argument("--until", metavar="TIME", help="end (default: now, with --from: the end of the history)")
    p.add_argument("--database-url", help="PostgreSQL URL of the engine's database (default: $OPSC_DATABASE_URL)")
