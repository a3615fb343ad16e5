"""Read queries of the dashboard and API: the alert list, counts, detail, topology input.

The alert list pages by keyset over (received_at DESC, id DESC), the order of the
index idx_alerts_received_at_id: a cursor names the last row seen, so a page costs the
same at row 10 or row 900,000 and inserts while paging never shift or repeat rows.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import decimal
import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping, Sequence

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from opsconductor.engine.model import Severity, Status

from .errors import ApiError

SEVERITIES = tuple(s.value for s in Severity)
STATUSES = tuple(s.value for s in Status)
OPEN = ("active", "acknowledged", "suppressed")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50

SUMMARY_COLUMNS = (
    "id", "severity", "status", "title", "device_name", "device_ip", "source_system", "category",
    "alert_type", "connector", "occurred_at", "received_at", "last_occurrence_at", "occurrence_count",
    "correlated_to_id", "acknowledged_by", "resolved_at", "message",
)  # fmt: skip
SUMMARY_SQL = _SUMMARY = sql.SQL(", ").join([
    *(sql.SQL("{}::text").format(sql.Identifier(c)) if c in ("id", "correlated_to_id") else sql.Identifier(c)
      for c in SUMMARY_COLUMNS),
    # Flapping (the engine's mark in custom fields): a badge, and a row that stays open.
    sql.SQL("coalesce((custom_fields->>'flapping')::boolean, false) AS flapping"),
    sql.SQL("custom_fields->>'flap_count' AS flap_count"),
])


# The text q= searches: title, message and device name as one string, the expression of
# the trigram index idx_alerts_search_trgm (migration 013); spelled identically here.
SEARCH_TEXT = sql.SQL("(coalesce(title, '') || ' ' || coalesce(message, '') || ' ' || coalesce(device_name, ''))")


@dataclass(frozen=True)
class AlertFilter:
    status: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    category: str | None = None
    source_system: str | None = None
    device_ip: str | None = None
    q: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> "AlertFilter":
        """From query parameters; 400 for values no alert can have. status=open means not resolved."""
        status = _choices(params, "status", STATUSES, {"open": OPEN})
        severity = _choices(params, "severity", SEVERITIES, {})
        text = {k: (params.get(k) or "").strip()[:255] or None for k in ("category", "source_system", "device_ip", "q")}
        return cls(status=status, severity=severity, **text)

    def query_items(self) -> list[tuple[str, str]]:
        """Back to query parameters (for links that keep the filter)."""
        items = [("status", ",".join(self.status)), ("severity", ",".join(self.severity))]
        items += [(k, getattr(self, k) or "") for k in ("category", "source_system", "device_ip", "q")]
        return [(k, v) for k, v in items if v]

    def where(self) -> list[sql.Composable]:
        parts: list[sql.Composable] = []
        if self.status:
            parts.append(sql.SQL("status = ANY({})").format(sql.Literal(list(self.status))))
            if set(self.status) <= set(OPEN):
                # Implied by the list, but spelled out so the planner may use a partial index
                # on open alerts (WHERE status <> 'resolved'), the dashboard's usual view.
                parts.append(sql.SQL("status <> 'resolved'"))
        if self.severity:
            parts.append(sql.SQL("severity = ANY({})").format(sql.Literal(list(self.severity))))
        for column in ("category", "source_system", "device_ip"):
            value = getattr(self, column)
            if value is not None:
                parts.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Literal(value)))
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            parts.append(sql.SQL("{} ILIKE {}").format(SEARCH_TEXT, sql.Literal(pattern)))
        return parts

    def matches(self, row: Mapping[str, Any]) -> bool:
        """The same test as where(), on a fetched row (the live stream filters one fetch for
        every open page). Needs the row's message for q."""
        if self.status and row["status"] not in self.status:
            return False
        if self.severity and row["severity"] not in self.severity:
            return False
        for column in ("category", "source_system", "device_ip"):
            value = getattr(self, column)
            if value is not None and row.get(column) != value:
                return False
        if self.q:
            text = " ".join(row.get(c) or "" for c in ("title", "message", "device_name"))
            return self.q.lower() in text.lower()
        return True


def _choices(params: Mapping[str, str], key: str, allowed: tuple[str, ...], aliases: dict) -> tuple[str, ...]:
    raw = [v.strip().lower() for v in (params.get(key) or "").split(",") if v.strip()]
    out: list[str] = []
    for value in raw:
        for v in aliases.get(value, (value,)):
            if v not in allowed:
                shown = value[:40]  # an answer never echoes a huge value back
                raise ApiError(400, f"{key} {shown!r} is not one of {', '.join(allowed + tuple(aliases))}",
                               {"parameter": key, "value": shown, "allowed": list(allowed + tuple(aliases))})
            if v not in out:
                out.append(v)
    return tuple(out)


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    # ASCII digits only ('²'.isdigit() is true), and few of them (int() refuses 4,300+ digits)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}",
                       {"parameter": "limit", "value": raw[:40]})
    return int(raw)


def encode_cursor(received_at: datetime, alert_id: str) -> str:
    return base64.urlsafe_b64encode(f"{received_at.isoformat()}|{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, alert_id = text.partition("|")
        when = datetime.fromisoformat(stamp)
        uuid.UUID(alert_id)
        if when.tzinfo is None:
            raise ValueError("naive")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "cursor is not one this API handed out; start again without it",
                       {"parameter": "cursor"}) from None
    return when, alert_id


def list_alerts(conn: psycopg.Connection, flt: AlertFilter, *, cursor: str | None = None,
                limit: int = DEFAULT_LIMIT) -> tuple[list[dict[str, Any]], str | None]:
    """One page, newest first, and the cursor of the next page (None on the last)."""
    where = flt.where()
    if cursor:
        when, alert_id = decode_cursor(cursor)
        where.append(sql.SQL("(received_at, id) < ({}, {}::uuid)").format(sql.Literal(when), sql.Literal(alert_id)))
    query = sql.SQL("SELECT {cols} FROM alerts {where} ORDER BY received_at DESC, id DESC LIMIT {n}").format(
        cols=_SUMMARY, where=_where(where), n=sql.Literal(limit + 1))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query).fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["received_at"], rows[-1]["id"])
    return rows, next_cursor


def alerts_by_ids(conn: psycopg.Connection, ids: list[str], flt: AlertFilter) -> list[dict[str, Any]]:
    """The alerts among `ids` that pass the filter, newest first (for the live stream)."""
    valid = [i for i in ids if _is_uuid(i)][:500]
    if not valid:
        return []
    where = [sql.SQL("id = ANY({}::uuid[])").format(sql.Literal(valid)), *flt.where()]
    query = sql.SQL("SELECT {cols} FROM alerts {where} ORDER BY received_at DESC, id DESC").format(
        cols=_SUMMARY, where=_where(where))
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def open_counts(conn: psycopg.Connection) -> dict[str, Any]:
    """Open (not resolved) alerts counted by status and by severity, from idx_alerts_status_severity."""
    rows = conn.execute(
        "SELECT status, severity, count(*) FROM alerts WHERE status = ANY(%s) GROUP BY 1, 2", (list(OPEN),)
    ).fetchall()
    by_status = {s: 0 for s in OPEN}
    by_severity = {s: 0 for s in SEVERITIES}
    problems = {s: 0 for s in SEVERITIES}  # active + acknowledged: what a person has to deal with
    unhandled = {s: 0 for s in SEVERITIES}  # active only: what nobody has looked at yet
    for status, severity, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_severity[severity] = by_severity.get(severity, 0) + n
        if status != "suppressed":
            problems[severity] = problems.get(severity, 0) + n
        if status == "active":
            unhandled[severity] = unhandled.get(severity, 0) + n
    return {"by_status": by_status, "by_severity": by_severity, "problems_by_severity": problems,
            "active_by_severity": unhandled, "open_total": sum(by_status.values())}


def children(conn: psycopg.Connection, alert_id: str, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
    """Alerts correlated under this one (suppressed children), newest first, and how many in all."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.SQL("SELECT {} FROM alerts WHERE correlated_to_id = %s "
                                   "ORDER BY received_at DESC, id DESC LIMIT %s").format(_SUMMARY),
                           (alert_id, limit)).fetchall()
        total = cur.execute("SELECT count(*) AS n FROM alerts WHERE correlated_to_id = %s", (alert_id,)).fetchone()
    return rows, total["n"] if total is not None else 0  # (count(*) always answers one row)


def summary(conn: psycopg.Connection, alert_id: str) -> dict[str, Any] | None:
    if not _is_uuid(alert_id):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql.SQL("SELECT {} FROM alerts WHERE id = %s").format(_SUMMARY), (alert_id,)).fetchone()


def dependencies(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT device_ip, depends_on_ip, dependency_type, description FROM dependencies "
                           "ORDER BY depends_on_ip, device_ip, dependency_type").fetchall()


def device_states(conn: psycopg.Connection, known: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Per device IP with open alerts: counts by status, worst severity, a name, and for
    suppressed alerts the root device each was suppressed under (the path the engine used).
    `known` (the IPs of the dependency graph) get a name from their latest alert even when
    nothing is open on them."""
    rows = conn.execute(
        "SELECT device_ip, status, severity, count(*), max(device_name) FROM alerts "
        "WHERE status = ANY(%s) AND device_ip IS NOT NULL GROUP BY 1, 2, 3", (list(OPEN),)
    ).fetchall()
    states: dict[str, dict[str, Any]] = {}
    for ip, status, severity, n, name in rows:
        st = states.setdefault(ip, _state())
        st["name"] = st["name"] or name
        st[status] += n
        if status != "suppressed" and (st["worst"] is None or Severity(severity).rank > Severity(st["worst"]).rank):
            st["worst"] = severity
    under = conn.execute(
        "SELECT a.device_ip, r.device_ip, max(r.device_name), count(*) FROM alerts a JOIN alerts r"
        " ON r.id = a.correlated_to_id WHERE a.status = 'suppressed' AND a.correlated_to_id IS NOT NULL"
        " AND a.device_ip IS NOT NULL AND r.device_ip IS NOT NULL GROUP BY 1, 2").fetchall()
    for ip, root_ip, root_name, n in under:
        states.setdefault(ip, _state())["under"][root_ip] = {"name": root_name, "count": n}
    missing = [ip for ip in known if "/" not in ip and not (states.get(ip) or {}).get("name")]
    if missing:
        for ip, name in conn.execute(
                "SELECT DISTINCT ON (device_ip) device_ip, device_name FROM alerts WHERE device_ip = ANY(%s)"
                " AND device_name IS NOT NULL ORDER BY device_ip, received_at DESC", (missing,)).fetchall():
            states.setdefault(ip, _state())["name"] = name
    return states


def _state() -> dict[str, Any]:
    return {"name": None, "worst": None, "active": 0, "acknowledged": 0, "suppressed": 0, "under": {}}


def _where(parts: list[sql.Composable]) -> sql.Composable:
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(parts) if parts else sql.SQL("")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def jsonable(value: Any) -> Any:
    """Plain JSON values: datetimes as ISO 8601, enums by value, dataclasses as dicts."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (uuid.UUID,)):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return value
