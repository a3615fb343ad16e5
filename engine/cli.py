"""`opsc`: a thin argparse front over the engine modules."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _config_dir(args: argparse.Namespace) -> str:
    return args.config or os.environ.get("OPSC_CONFIG_DIR") or "."


def cmd_validate(args: argparse.Namespace) -> int:
    from .rules.limits import validate_tree
    from .config.report import render

    result = validate_tree(_config_dir(args), check_secrets=args.secrets)
    errors, warnings = len(result.errors), len(result.warnings)
    if result.errors:
        summary = f"{errors} error(s), {warnings} warning(s) in {_config_dir(args)}"
    else:
        b = result.bundle
        assert b is not None  # loaded without errors: a bundle
        summary = (f"ok: {len(b.files)} files, {len(b.connectors)} connectors, {len(b.oid_mappings)} OID maps, "
                   f"{len(b.dependencies)} dependencies, {len(b.rules)} rules, {len(b.channels)} channels, "
                   f"{len(b.tests)} rule tests; {warnings} warning(s); version {b.content_hash[:12]}")
        if args.roots:
            summary = "\n".join(_root_causes(b)) + "\n" + summary
    out = render(result.problems, args.format, root=_config_dir(args), summary=summary)
    if out:
        print(out)
    if args.format == "github" and not result.problems:
        print(summary)
    return 1 if result.errors or (args.strict and result.warnings) else 0


def _root_causes(bundle) -> list[str]:
    """What counts as a root cause in this tree (engine/rootcause.py), one line each."""
    from .rootcause import KINDS, RootCauses

    lines = RootCauses(bundle.connectors).listing(bundle.connectors, bundle.oid_mappings)
    kinds = "; ".join(f"{k} explains {', '.join(sorted(v))} dependents" for k, v in KINDS.items())
    return [f"root causes ({kinds}):", *(f"  {line}" for line in lines)]


def cmd_test(args: argparse.Namespace) -> int:
    from .rules.limits import validate_tree
    from .config.report import render as render_problems
    from .ruletest import run_tests
    from .ruletest.report import render

    result = validate_tree(_config_dir(args))
    if result.bundle is None:
        print(render_problems(result.errors, "github" if args.format == "github" else "text", root=_config_dir(args)))
        print(f"the config tree does not validate ({len(result.errors)} error(s)); no rule test ran")
        return 1
    results = run_tests(result.bundle)
    out = render(results, args.format, verbose=args.verbose, root=_config_dir(args))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(out + "\n")
        print(render(results, "text", verbose=args.verbose))
    else:
        print(out)
    return 0 if all(r.passed for r in results) else 1


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}


def byte_size(text: str) -> int:
    """A size as an operator writes it: 2GiB, 500MB, 1073741824 (argparse type)."""
    value = text.strip().lower().replace(" ", "")
    digits = value.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = value[len(digits):]
    try:
        number = float(digits)
    except ValueError:
        number = -1.0
    if unit not in _SIZE_UNITS or number <= 0 or number != number or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write e.g. 2GiB, 500MB or 1073741824")
    size = int(number * _SIZE_UNITS[unit])
    if size < 1024 * 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is under 1 MiB: too small for the intake journal")
    return size


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from .config.server import load_server_config
    from .errors import ConfigError, OpscError
    from .service import ServeSettings, serve

    logging.basicConfig(level=os.environ.get("OPSC_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = os.environ.get("OPSC_DATA_DIR")
    try:
        server = load_server_config(args.server_config or os.environ.get("OPSC_SERVER_CONFIG"))
    except ConfigError as exc:
        print("opsc serve: the server settings file has problems:\n" + "\n".join(p.format() for p in exc.problems),
              file=sys.stderr)
        return 1
    settings = ServeSettings(server=server, config_dir=Path(_config_dir(args)).resolve(), database_url=args.database_url,
                             data_dir=Path(data_dir) if data_dir else None, host=args.host, port=args.port,
                             watch=not args.no_watch, run_rule_tests=not args.skip_rule_tests,
                             journal_max_bytes=args.journal_max)
    try:
        import uvloop  # the event loop uvicorn and the connectors run on: several times cheaper per request

        return uvloop.run(serve(settings))
    except OpscError as exc:
        print(f"opsc serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _database(args: argparse.Namespace):
    from .store.database import Database

    return Database(getattr(args, "database_url", None), data_dir=None)


def cmd_migrate(args: argparse.Namespace) -> int:
    from .store.migrate import apply_migrations

    with _database(args) as location:
        applied = apply_migrations(location.url)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "; the schema is current"))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import psycopg

    from .explain import AmbiguousId, explain_text, find_alert_id
    from .store.alerts import get_alert
    from .store.decisions import list_decisions
    from .store.notification_log import list_notifications

    with _database(args) as location, psycopg.connect(location.url) as conn:
        try:
            alert_id = find_alert_id(conn, args.alert_id)
        except AmbiguousId as exc:
            print(f"opsc explain: {exc}", file=sys.stderr)
            return 1
        record = get_alert(conn, alert_id) if alert_id else None
        if alert_id is None or record is None:
            print(f"opsc explain: no alert {args.alert_id} (give its id, or the first 4+ hex digits of it)",
                  file=sys.stderr)
            return 1
        root = get_alert(conn, record.alert.correlated_to_id) if record.alert.correlated_to_id else None
        text = explain_text(record, list_decisions(conn, alert_id), list_notifications(conn, alert_id), root)
    return _emit(text)


def _emit(text: str) -> int:
    """Print to stdout; a reader that stops early (`| head`) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would complain again flushing stdout at exit: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """The same apply as a push webhook, asked of the running engine with the admin token."""
    import httpx

    token = os.environ.get("OPSC_ADMIN_TOKEN")
    if not token:
        print("opsc sync: set OPSC_ADMIN_TOKEN (the engine's admin token)", file=sys.stderr)
        return 2
    url = args.server.rstrip("/") + "/api/v1/sync" + ("?force=true" if args.force else "")
    try:
        response = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
    except httpx.HTTPError as exc:
        print(f"opsc sync: no engine answers at {args.server}: {exc}", file=sys.stderr)
        return 1
    try:
        body = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:500]}}
    if "error" in body:
        print(f"opsc sync: {response.status_code}: {body['error'].get('message')}", file=sys.stderr)
        return 1
    print(f"{body.get('status')}: {body.get('reason')}" + (f" (commit {body['commit']})" if body.get("commit") else ""))
    for e in body.get("errors", []):
        print(f"{e['file']}:{e['line']}:{e['col']}: {e['path']}: {e['message']}")
    return 0 if body.get("status") in ("applied", "unchanged", "ignored") else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main_args

    return main_args(args)


def cmd_import_legacy(args: argparse.Namespace) -> int:
    from .rules.limits import validate_tree
    from .legacy import import_legacy

    report = import_legacy(args.database_url, args.out)
    print(report.text())
    result = validate_tree(args.out, environ={})
    for problem in result.errors:
        print(problem.format(), file=sys.stderr)
    return 1 if result.errors else 0


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from .check import check_channel, check_connector
    from .config.loader import load_tree

    logging.basicConfig(level=os.environ.get("OPSC_LOG_LEVEL", "ERROR"), format="%(levelname)s %(name)s: %(message)s")
    result = load_tree(_config_dir(args))
    if result.bundle is None:
        for problem in result.errors:
            print(problem.format(), file=sys.stderr)
        return 1
    if args.what == "channel":
        report = asyncio.run(check_channel(result.bundle, args.name, dashboard_url=os.environ.get("OPSC_DASHBOARD_URL")))
    else:
        report = asyncio.run(check_connector(result.bundle, args.name, listen_seconds=args.listen_seconds))
    print(report.text())
    return 0 if report.ok else 1


def cmd_schema(args: argparse.Namespace) -> int:
    from .config.schema import kind_schema, schema_names

    try:
        schema = kind_schema(args.kind)
    except KeyError:
        print(f"opsc schema: unknown kind {args.kind!r}; known: {', '.join(schema_names())}", file=sys.stderr)
        return 2
    return _emit(json.dumps(schema, indent=2))


class _Version(argparse.Action):
    """Like argparse's "version" action, but asks git only when --version is given."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from .version import version_text

        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsc", description="OpsConductor: alert engine run as configuration-as-code")
    parser.add_argument("--version", action=_Version, help="print the version (and git commit) and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="validate the config tree; every problem as file:line:col: path: message")
    p.add_argument("--config", metavar="DIR", help="config tree (default: $OPSC_CONFIG_DIR or .)")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.add_argument("--secrets", action="store_true",
                   help="also check that every ${env:…}/${file:…} secret resolves here (on the server, not in CI)")
    p.add_argument("--roots", action="store_true",
                   help="also list which alerts count as root causes (device down), per connector and OID map")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("test", help="run the rule unit tests in rules/tests through the real pipeline")
    p.add_argument("--config", metavar="DIR", help="config tree (default: $OPSC_CONFIG_DIR or .)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list passing tests too; a failing test prints every alert and notification with its simulated time")
    p.add_argument("--format", choices=("text", "junit", "github"), default="text",
                   help="junit: JUnit XML for CI test reports; github: GitHub Actions annotations")
    p.add_argument("-o", "--output", metavar="FILE", help="write the --format output to FILE (the text summary still prints)")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("serve", help="run the engine, its connectors and the dashboard")
    p.add_argument("--config", metavar="DIR", help="config tree (default: $OPSC_CONFIG_DIR or .)")
    p.add_argument("--host", default=os.environ.get("OPSC_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("OPSC_PORT", "8080")))
    p.add_argument("--database-url", help="PostgreSQL URL (default: $OPSC_DATABASE_URL, else the embedded server)")
    p.add_argument("--no-watch", action="store_true", help="do not reload when files change (SIGHUP and the API still do)")
    p.add_argument("--skip-rule-tests", action="store_true", help="apply a new version without running rules/tests")
    p.add_argument("--server-config", metavar="FILE",
                   help="server settings: tokens and roles, read access, git (default: $OPSC_SERVER_CONFIG)")
    p.add_argument("--journal-max", metavar="SIZE", type=byte_size, default=os.environ.get("OPSC_JOURNAL_MAX", "2GiB"),
                   help="the intake journal's cap: beyond it intake answers 503 with Retry-After rather than fill "
                        "the disk (default: $OPSC_JOURNAL_MAX or 2GiB; e.g. 500MB, 8GiB)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.add_argument("--database-url", help="PostgreSQL URL (default: $OPSC_DATABASE_URL, else the embedded server)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("explain", help="the rule trail of one alert: normalized, enriched, correlated, routed, notified")
    p.add_argument("alert_id", help="the alert's id, or its first 4 or more hex digits (as the dashboard shows)")
    p.add_argument("--database-url", help="PostgreSQL URL (default: $OPSC_DATABASE_URL, else the embedded server)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("sync", help="make the running engine fetch and apply its git branch now (GitOps)")
    p.add_argument("--server", default=os.environ.get("OPSC_SERVER_URL", "http://127.0.0.1:8080"),
                   help="the engine's URL (default $OPSC_SERVER_URL or http://127.0.0.1:8080)")
    p.add_argument("--force", action="store_true", help="apply even a commit older than the running one")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("demo", help="play a site power-loss scenario into the running engine (make run first)")
    p.add_argument("--server", default=os.environ.get("OPSC_SERVER_URL", "http://127.0.0.1:8080"))
    p.add_argument("--trap-host", default="127.0.0.1")
    p.add_argument("--trap-port", type=int, default=1162)
    p.add_argument("--pace", type=float, default=5.0, help="seconds between steps (default 5)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("import-legacy", help="write the YAML tree equivalent to an existing OpsConductor database")
    p.add_argument("--database-url", required=True, help="the old database, e.g. postgresql://user@host/opsconductor")
    p.add_argument("--out", default="imported-config", help="directory to write (default ./imported-config)")
    p.set_defaults(func=cmd_import_legacy)

    p = sub.add_parser("check", help="try a connector (poll once, or listen) or a channel (one test notification) "
                                     "now; print what came back; stores nothing")
    check = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    c = check.add_parser("connector", help="poll once (a trap receiver: listen for a while) and show the alerts")
    c.add_argument("name")
    c.add_argument("--config", metavar="DIR", help="config tree (default: $OPSC_CONFIG_DIR or .)")
    c.add_argument("--listen-seconds", type=float, default=10.0, help="how long a trap receiver listens (default 10)")
    c.set_defaults(func=cmd_check)
    c = check.add_parser("channel", help="send one notification marked as a test, and show the receiver's answer")
    c.add_argument("name")
    c.add_argument("--config", metavar="DIR", help="config tree (default: $OPSC_CONFIG_DIR or .)")
    c.set_defaults(func=cmd_check)

    from .replay.commands import add_span_arguments, cmd_history_export, cmd_replay

    p = sub.add_parser("replay", help="what a config change would have done to stored history: "
                                      "both trees through the real pipeline, the decisions compared")
    p.add_argument("--config", metavar="DIR", help="the candidate tree (default: $OPSC_CONFIG_DIR or .)")
    p.add_argument("--baseline", metavar="DIR", help="the tree to compare with")
    p.add_argument("--baseline-ref", metavar="REF", help="or: the candidate's folder at this git ref (e.g. origin/main)")
    add_span_arguments(p)
    p.add_argument("--history", metavar="FILE", help="replay a history file (opsc history export) instead of a database")
    p.add_argument("--format", choices=("text", "json", "github"), default="text")
    p.add_argument("--limit", type=int, default=50, help="changed alerts shown in full (default 50)")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the candidate decides differently")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("history", help="history for replay in CI: opsc history export")
    hist = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    h = hist.add_parser("export", help="write the raw events and operator actions of a span to a file")
    add_span_arguments(h)
    h.add_argument("-o", "--output", required=True, metavar="FILE", help="e.g. history.jsonl.gz (gzip'd JSON lines)")
    h.set_defaults(func=cmd_history_export)

    p = sub.add_parser("schema", help="print the JSON Schema of a config kind (for editors)")
    p.add_argument("kind", help="connector, oidmap, dependency, rule, ruletest, connector.TYPE or channel.TYPE")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
