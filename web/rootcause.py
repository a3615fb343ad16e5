"""Root cause first: the alert list with children folded under their root, the groups
("site1-switch unreachable — 14 suppressed: 12 video, 2 wireless"), and the counts of
open problems (active + acknowledged) with suppressed and silenced apart."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import queries
from .queries import OPEN, SEVERITIES, AlertFilter

GROUP_ROWS = 50  # children drawn inside an expanded group; the rest are a link away


def folds(flt: AlertFilter) -> bool:
    """Children fold under their root when the view shows roots as well as children: any
    status, or open ones. A view of suppressed alerts alone lists them flat."""
    shown = set(flt.status) or set(OPEN)
    return "suppressed" in shown and bool(shown & {"active", "acknowledged"})


FOLD_ROUNDS = 10  # pages of children scanned at most to fill one page of the list


def list_page(conn: psycopg.Connection, flt: AlertFilter, *, cursor: str | None = None,
              limit: int = queries.DEFAULT_LIMIT) -> tuple[list[dict[str, Any]], str | None, dict[str, dict]]:
    """One page of the list as the dashboard draws it: an open child whose open root this
    view also shows is left out of the rows and counted in its root's group instead.
    Folding happens after the keyset query (a predicate on the root inside it cost the
    planner its index-order plan: ~100 ms instead of ~5 at 1,000,000 alerts); a page that
    folds away is topped up from the next ones."""
    if not folds(flt):
        rows, next_cursor = queries.list_alerts(conn, flt, cursor=cursor, limit=limit)
        name_roots(conn, rows)
        return rows, next_cursor, {}
    shown: list[dict[str, Any]] = []
    next_cursor = cursor
    for _ in range(FOLD_ROUNDS):
        rows, next_cursor = queries.list_alerts(conn, flt, cursor=next_cursor, limit=limit)
        shown += _unfolded(conn, flt, rows)
        if len(shown) >= limit or next_cursor is None:
            break
    if len(shown) > limit:
        shown = shown[:limit]
        next_cursor = queries.encode_cursor(shown[-1]["received_at"], shown[-1]["id"])
    name_roots(conn, shown)
    return shown, next_cursor, groups(conn, [r["id"] for r in shown])


def _unfolded(conn: psycopg.Connection, flt: AlertFilter, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` without the open children whose root is open and passes the filter."""
    parents = list({r["correlated_to_id"] for r in rows if r.get("correlated_to_id") and r["status"] != "resolved"})
    if not parents:
        return rows
    with conn.cursor(row_factory=dict_row) as cur:
        roots = cur.execute(sql.SQL("SELECT {} FROM alerts WHERE id = ANY(%s::uuid[]) AND status <> 'resolved'")
                            .format(queries.SUMMARY_SQL), (parents,)).fetchall()
    folding = {r["id"] for r in roots if flt.matches(r)}
    return [r for r in rows if not (r.get("correlated_to_id") in folding and r["status"] != "resolved")]


def name_roots(conn: psycopg.Connection, rows: list[dict[str, Any]]) -> None:
    """Give each child row its root's title and device ("↳ under sw-access-north")."""
    ids = list({r["correlated_to_id"] for r in rows if r.get("correlated_to_id")})
    if not ids:
        return
    found = {i: (t, d) for i, t, d in conn.execute(
        "SELECT id::text, title, device_name FROM alerts WHERE id = ANY(%s::uuid[])", (ids,)).fetchall()}
    for r in rows:
        if r.get("correlated_to_id") in found:
            r["root_title"], r["root_device"] = found[r["correlated_to_id"]]


def groups(conn: psycopg.Connection, root_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per root among `root_ids` with open children: their total, counts by category and
    by status (suppressed, or linked by a correlation rule), and the newest of them."""
    if not root_ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        kinds = cur.execute(
            "SELECT correlated_to_id::text AS root, category, status, count(*) AS n FROM alerts"
            " WHERE correlated_to_id = ANY(%s::uuid[]) AND status <> 'resolved' GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2",
            (root_ids,)).fetchall()
        for k in kinds:
            g = out.setdefault(k["root"], {"total": 0, "suppressed": 0, "kinds": {}, "rows": []})
            g["total"] += k["n"]
            g["suppressed"] += k["n"] if k["status"] == "suppressed" else 0
            g["kinds"][k["category"]] = g["kinds"].get(k["category"], 0) + k["n"]
        if out:
            rows = cur.execute(sql.SQL(
                "SELECT * FROM (SELECT {cols}, row_number() OVER (PARTITION BY correlated_to_id"
                " ORDER BY received_at DESC, id DESC) AS k FROM alerts"
                " WHERE correlated_to_id = ANY(%s::uuid[]) AND status <> 'resolved') c WHERE k <= %s"
                " ORDER BY received_at DESC, id DESC").format(cols=queries.SUMMARY_SQL),
                (list(out), GROUP_ROWS)).fetchall()
            for r in rows:
                out[r["correlated_to_id"]]["rows"].append(r)
            name_roots(conn, rows)
    for g in out.values():
        g["kinds"] = sorted(g["kinds"].items(), key=lambda kv: (-kv[1], kv[0]))
    return out


def root_causes(conn: psycopg.Connection, limit: int = 8) -> list[dict[str, Any]]:
    """Open roots with the most open children, for the overview: the root and its group."""
    with conn.cursor(row_factory=dict_row) as cur:
        top = cur.execute(
            "SELECT correlated_to_id::text AS root, count(*) AS n FROM alerts"
            " WHERE status <> 'resolved' AND correlated_to_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s",
            (limit * 2,)).fetchall()
        if not top:
            return []
        roots = cur.execute(sql.SQL("SELECT {} FROM alerts WHERE id = ANY(%s::uuid[]) AND status <> 'resolved'")
                            .format(queries.SUMMARY_SQL), ([t["root"] for t in top],)).fetchall()
    by_id = {r["id"]: r for r in roots}
    ordered = [by_id[t["root"]] for t in top if t["root"] in by_id][:limit]
    found = groups(conn, [r["id"] for r in ordered])
    return [{"root": r, "group": found[r["id"]]} for r in ordered if r["id"] in found]


def counts(conn: psycopg.Connection, silenced: dict[str, str]) -> dict[str, Any]:
    """Open alerts by status and severity. Tiles count problems: active + acknowledged and
    not silenced; suppressed and silenced are counted apart."""
    c = queries.open_counts(conn)
    held: dict[str, int] = {s: 0 for s in SEVERITIES}
    if silenced:
        rows = conn.execute("SELECT severity, count(*) FROM alerts WHERE id = ANY(%s::uuid[])"
                            " AND status IN ('active', 'acknowledged') GROUP BY 1", (list(silenced),)).fetchall()
        for severity, n in rows:
            held[severity] = n
    problems = {s: c["problems_by_severity"][s] - held[s] for s in SEVERITIES}
    return {**c, "problems": problems, "problems_total": sum(problems.values()), "silenced_by_severity": held,
            "silenced_total": sum(held.values())}
