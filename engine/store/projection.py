"""The config projection: connectors, oid_mappings, dependencies and notification_rules
brought to match one config version, in one transaction.

Rows are matched by their config identity (connector name, mapping match_key,
dependency triple, rule name), so a row that survives a reload keeps its id (which
notification_log.rule_id points at) and its runtime columns (connectors.status,
counters, last_poll_at…; notification_rules.last_triggered_at), which this module
never writes. Only rows whose config-owned columns differ are updated; config_version_id
on a row is the version that last inserted or changed it. Concurrent reloads (two
engine processes) are serialized by a transaction-level advisory lock.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ..errors import StoreError
from .jsonb import jsonb, plain

PROJECTION_LOCK_KEY = 0x4F50_5343_5052_4F4A  # "OPSCPROJ"


@dataclass(frozen=True)
class ConnectorRow:
    name: str
    type: str
    enabled: bool
    config: Mapping[str, Any]  # secrets already masked: the database never holds one


@dataclass(frozen=True)
class OidMappingRow:
    oid_pattern: str
    vendor: str | None
    alert_type: str
    category: str
    default_severity: str
    title_template: str | None = None
    description: str | None = None
    is_clear_event: bool = False
    clear_oid_pattern: str | None = None
    mib_name: str | None = None
    mib_object: str | None = None
    notes: str | None = None
    # Identity of the mapping. Mappings sharing a pattern and vendor (they differ by
    # varbind conditions) need distinct keys; the default is "<pattern>|<vendor>".
    match_key: str | None = None

    @property
    def key(self) -> str:
        return self.match_key if self.match_key is not None else f"{self.oid_pattern}|{self.vendor or ''}"


@dataclass(frozen=True)
class DependencyRow:
    device_ip: str
    depends_on_ip: str
    dependency_type: str = "network"
    description: str | None = None


@dataclass(frozen=True)
class NotificationRuleRow:
    name: str
    description: str | None
    enabled: bool
    priority: int
    conditions: Mapping[str, Any]
    channels: Sequence[Any]
    throttle_minutes: int = 0


@dataclass(frozen=True)
class ConfigProjection:
    connectors: tuple[ConnectorRow, ...] = ()
    oid_mappings: tuple[OidMappingRow, ...] = ()
    dependencies: tuple[DependencyRow, ...] = ()
    notification_rules: tuple[NotificationRuleRow, ...] = ()


@dataclass(frozen=True)
class TableStats:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class ProjectionStats:
    connectors: TableStats
    oid_mappings: TableStats
    dependencies: TableStats
    notification_rules: TableStats

    @property
    def changed(self) -> bool:
        return any(s != TableStats() for s in (self.connectors, self.oid_mappings, self.dependencies,
                                               self.notification_rules))  # fmt: skip


@dataclass(frozen=True)
class _Table:
    """How one config-backed table is projected: its key and its config-owned columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]  # written from the config, besides the key
    json_columns: frozenset[str]
    values: Callable[[Any], dict[str, Any]]  # row dataclass → {column: value}, key included


_CONNECTORS = _Table(
    "connectors", ("name",), ("type", "enabled", "config"), frozenset({"config"}),
    lambda r: {"name": r.name, "type": r.type, "enabled": r.enabled, "config": r.config},
)  # fmt: skip
_OID_COLUMNS = ("oid_pattern", "vendor", "alert_type", "category", "default_severity", "title_template",
                "description", "is_clear_event", "clear_oid_pattern", "mib_name", "mib_object", "notes")  # fmt: skip
_OID_MAPPINGS = _Table(
    "oid_mappings", ("match_key",), _OID_COLUMNS, frozenset(),
    lambda r: {"match_key": r.key, **{c: getattr(r, c) for c in _OID_COLUMNS}},
)  # fmt: skip
_DEPENDENCIES = _Table(
    "dependencies", ("device_ip", "depends_on_ip", "dependency_type"), ("description",), frozenset(),
    lambda r: {"device_ip": r.device_ip, "depends_on_ip": r.depends_on_ip,
               "dependency_type": r.dependency_type, "description": r.description},
)  # fmt: skip
_RULE_COLUMNS = ("description", "enabled", "priority", "conditions", "channels", "throttle_minutes")
_NOTIFICATION_RULES = _Table(
    "notification_rules", ("name",), _RULE_COLUMNS, frozenset({"conditions", "channels"}),
    lambda r: {"name": r.name, **{c: getattr(r, c) for c in _RULE_COLUMNS}},
)  # fmt: skip


def apply_projection(
    conn: psycopg.Connection, projection: ConfigProjection, config_version_id: int,
    previous: ConfigProjection | None = None,
) -> ProjectionStats:
    """Make the four tables match `projection`; all or nothing. `previous`: the projection
    this process applied last (the engine is the only writer of these columns): only the
    rows that differ from it are written, and no table is read (a reload that edits one
    rule writes one row, not 4,000). Should a table not hold what `previous` says (a
    statement touches fewer rows than it should), that table is synced in full."""

    def sync(table: _Table, rows: Sequence[Any], before: Sequence[Any] | None) -> TableStats:
        if before is not None:
            stats = _sync_changes(conn, table, rows, before, config_version_id)
            if stats is not None:
                return stats
        return _sync(conn, table, rows, config_version_id)

    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PROJECTION_LOCK_KEY,))
            return ProjectionStats(
                connectors=sync(_CONNECTORS, projection.connectors, previous.connectors if previous else None),
                oid_mappings=sync(_OID_MAPPINGS, projection.oid_mappings, previous.oid_mappings if previous else None),
                dependencies=sync(_DEPENDENCIES, projection.dependencies, previous.dependencies if previous else None),
                notification_rules=sync(_NOTIFICATION_RULES, projection.notification_rules,
                                        previous.notification_rules if previous else None),  # fmt: skip
            )
    except psycopg.Error as exc:
        raise StoreError(f"config projection for version {config_version_id} failed: {exc}") from exc


def _sync(conn: psycopg.Connection, table: _Table, rows: Sequence[Any], version_id: int) -> TableStats:
    desired: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        values = {c: plain(v) for c, v in table.values(row).items()}
        key = tuple(values[k] for k in table.key)
        if key in desired:
            raise StoreError(f"{table.name}: two config entries share the key {_show(table, key)}")
        desired[key] = values

    ident = sql.Identifier(table.name)
    all_columns = (*table.key, *table.columns)
    existing: dict[tuple[Any, ...], tuple[Any, dict[str, Any]]] = {}
    select = sql.SQL("SELECT id, {} FROM {} FOR UPDATE").format(_idents(all_columns), ident)
    for row_id, *found in conn.execute(select).fetchall():
        values = dict(zip(all_columns, found))
        existing[tuple(values[k] for k in table.key)] = (row_id, values)

    deletes = [(row_id,) for key, (row_id, _) in existing.items() if key not in desired]
    updates = [
        _params(table, table.columns, desired[key], version_id) + (row_id,)
        for key, (row_id, current) in existing.items()
        if key in desired and any(current[c] != desired[key][c] for c in table.columns)
    ]
    inserts = [_params(table, all_columns, values, version_id) for key, values in desired.items()
               if key not in existing]  # fmt: skip

    with conn.cursor() as cur:
        # Deletes first so a row re-keyed in the YAML never collides with its old self.
        if deletes:
            cur.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(ident), ([d[0] for d in deletes],))
        if updates:
            assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in table.columns)
            cur.executemany(
                sql.SQL("UPDATE {} SET {}, config_version_id = %s, updated_at = NOW() WHERE id = %s").format(
                    ident, assignments),  # fmt: skip
                updates,
            )
        if inserts:
            _copy_in(cur, table, inserts)
    return TableStats(inserted=len(inserts), updated=len(updates), deleted=len(deletes))


def _sync_changes(conn: psycopg.Connection, table: _Table, rows: Sequence[Any], before: Sequence[Any],
                  version_id: int) -> TableStats | None:
    """Write what differs between `before` (what the table holds) and `rows`; None when the
    table turned out not to hold `before`."""
    if tuple(rows) == tuple(before):
        return TableStats()
    keys = _KeyMemo(table)
    old = {keys(r): r for r in before}
    new = {keys(r): r for r in rows}
    keys.keep()
    if len(new) != len(rows):
        return None  # two entries share a key: _sync says which
    changed = []
    for key, row in new.items():
        was = old.get(key)
        if was is not None and was is not row and was != row:
            values = {c: plain(v) for c, v in table.values(row).items()}
            if any(plain(v) != values[c] for c, v in table.values(was).items() if c in table.columns):
                changed.append(_params(table, table.columns, values, version_id) + key)
    gone = [key for key in old if key not in new]
    added = [_params(table, (*table.key, *table.columns), {c: plain(v) for c, v in table.values(new[key]).items()},
                     version_id) for key in new if key not in old]  # fmt: skip
    ident = sql.Identifier(table.name)
    where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in table.key)
    with conn.cursor() as cur:
        if gone:
            cur.executemany(sql.SQL("DELETE FROM {} WHERE {}").format(ident, where), gone)
            if cur.rowcount != len(gone):
                return None
        if changed:
            assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in table.columns)
            cur.executemany(sql.SQL("UPDATE {} SET {}, config_version_id = %s, updated_at = NOW() WHERE {}").format(
                ident, assignments, where), changed)  # fmt: skip
            if cur.rowcount != len(changed):
                return None
        if added:
            _copy_in(cur, table, added)
    return TableStats(inserted=len(added), updated=len(changed), deleted=len(gone))


def _key(table: _Table, row: Any) -> tuple[Any, ...]:
    values = table.values(row)
    return tuple(plain(values[k]) for k in table.key)


# Each table's rows of the last sync, with their keys, by identity: a reload's unchanged rules,
# OID mappings, ... give the same row objects (store/config_rows.py), whose keys the previous
# sync made (~3 µs a row; the rows of 1,000 rules were ~6 ms of a reload that changed one).
_last_keys: dict[str, dict[int, tuple[Any, tuple[Any, ...]]]] = {}


class _KeyMemo:
    def __init__(self, table: _Table) -> None:
        self.table, self.before = table, _last_keys.get(table.name, {})
        self.now: dict[int, tuple[Any, tuple[Any, ...]]] = {}

    def __call__(self, row: Any) -> tuple[Any, ...]:
        hit = self.now.get(id(row)) or self.before.get(id(row))
        if hit is None or hit[0] is not row:
            hit = (row, _key(self.table, row))
        self.now[id(row)] = hit
        return hit[1]

    def keep(self) -> None:
        _last_keys[self.table.name] = self.now


def _copy_in(cur: psycopg.Cursor[Any], table: _Table, rows: list[tuple[Any, ...]]) -> None:
    """COPY: a renamed set of 1,000 rules is one statement, not 1,000."""
    with cur.copy(sql.SQL("COPY {} ({}, config_version_id) FROM STDIN").format(
            sql.Identifier(table.name), _idents((*table.key, *table.columns)))) as copy:  # fmt: skip
        for params in rows:
            copy.write_row(params)


def _params(table: _Table, columns: Sequence[str], values: Mapping[str, Any], version_id: int) -> tuple[Any, ...]:
    return tuple(jsonb(values[c]) if c in table.json_columns else values[c] for c in columns) + (version_id,)


def _idents(columns: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _show(table: _Table, key: tuple[Any, ...]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in zip(table.key, key))
