"""`opsc import-legacy`: an existing OpsConductor database → the config-as-code tree.

Reads the seed's tables (connectors, oid_mappings, dependencies, notification_rules) and the
system_settings keys prtg_* / mcp_* (the settings the seed's migration guide copies into the
PRTG and MCP connectors), and writes connectors.d/, oidmaps/, dependencies.d/ and rules/ as
YAML that `opsc validate` accepts. Secrets are never written: each becomes `${env:NAME}`
(PRTG_API_TOKEN, MCP_PASSWORD, …) and the report lists the variables to set and where their
values are in the old database. Seed-style titles (`{device_name}`) become Jinja
(`{{ device_name }}`). What cannot be carried over (a connector without a URL, a rule's channel
whose settings are unknown) is listed in the report instead of being guessed.

Only reads: the old database is never written.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
import yaml

SECRET_KEYS = ("api_token", "passhash", "password", "community", "api_key", "cp_api_id", "cp_api_key",
               "ecm_api_id", "ecm_api_key", "token", "auth_key", "priv_key")
SEVERITIES = ("critical", "major", "minor", "warning", "info", "clear")
CATEGORIES = ("network", "power", "video", "wireless", "security", "environment", "compute", "storage",
              "application", "unknown")
DEP_TYPES = ("network", "power", "logical", "service")
MATCH_FIELDS = ("source_system", "connector", "device_ip", "device_name", "severity", "category", "alert_type",
                "title", "message", "tags", "priority", "status", "site", "resource_key")
CLEAR_PAIRS = {"link_up": ["link_down"], "utility_restored": ["on_battery", "low_battery"]}
URL_TYPES = ("prtg", "mcp", "milestone", "ubiquiti", "eaton_rest")
TARGET_TYPES = ("eaton", "siklu", "axis", "cradlepoint")


@dataclass
class ImportReport:
    out_dir: Path
    files: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # env var → where its value is in the old database
    skipped: list[str] = field(default_factory=list)  # what was not carried over, and why
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"wrote {len(self.files)} file(s) under {self.out_dir}:", *(f"  {f}" for f in self.files)]
        if self.variables:
            lines.append("set these environment variables (values are in the old database, never written here):")
            lines += [f"  {name}  ← {where}" for name, where in sorted(self.variables.items())]
        if self.skipped:
            lines.append("not imported:")
            lines += [f"  {s}" for s in self.skipped]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def slug(text: str) -> str:
    name = re.sub(r"[^a-z0-9_-]+", "-", str(text).lower()).strip("-_")
    name = name if name and name[0].isalpha() else f"c-{name}"
    return name[:63]


def env_name(*parts: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def jinja(template: str | None) -> str | None:
    """`Interface Down - {device_name}` → `Interface Down - {{ device_name }}` (Jinja kept as is)."""
    if template is None or "{{" in template:
        return template
    return re.sub(r"\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}", r"{{ \1 }}", template)


def _bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on", "t")


def _duration(seconds: Any) -> str | None:
    try:
        value = int(float(seconds))
    except (TypeError, ValueError):
        return None
    return f"{value}s" if value > 0 else None


class _Importer:
    def __init__(self, conn: psycopg.Connection, out: Path):
        self.conn, self.out = conn, out
        self.report = ImportReport(out)

    def rows(self, sql: str) -> list[dict]:
        table = sql.split(" FROM ")[1].split()[0]
        found = self.conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if found is None or found[0] is None:
            self.report.notes.append(f"the old database has no {table} table")
            return []
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql).fetchall()

    def secret(self, connector: str, key: str, value: Any, where: str, *extra: str) -> str | None:
        if value is None or value == "":
            return None
        name = env_name(connector, *extra, key)
        self.report.variables[name] = where
        return "${env:" + name + "}"

    def write(self, rel: str, header: str, doc: Any) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"# {header}\n# Imported by `opsc import-legacy`; review before use.\n"
        path.write_text(text + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        self.report.files.append(rel)

    # ---- connectors -------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        rows = self.rows("SELECT key, value FROM system_settings WHERE key LIKE 'prtg\\_%' OR key LIKE 'mcp\\_%'")
        return {r["key"]: r["value"] for r in rows}

    def connectors(self) -> None:
        settings = self.settings()
        rows = self.rows("SELECT name, type, enabled, config FROM connectors ORDER BY name")
        for kind in ("prtg", "mcp"):  # settings without a connectors row (before migration 020)
            if any(k.startswith(kind + "_") for k in settings) and not any(r["type"] == kind for r in rows):
                rows.append({"name": kind.upper(), "type": kind, "enabled": False, "config": {}})
        names: set[str] = set()
        for row in rows:
            config = row["config"] if isinstance(row["config"], dict) else json.loads(row["config"] or "{}")
            kind, enabled = row["type"], bool(row["enabled"])
            where = f"connectors.config of {row['name']!r}"
            if kind in ("prtg", "mcp"):
                config, enabled, where = self._from_settings(kind, config, settings, enabled)
            name = slug(row["name"])
            while name in names:
                name = slug(name + "-2")
            names.add(name)
            doc = self._connector(name, row["name"], kind, enabled, config, where)
            if doc is not None:
                self.write(f"connectors.d/{name}.yaml", f"{row['name']} ({kind})", doc)

    def _from_settings(self, kind: str, config: dict, settings: dict, enabled: bool) -> tuple[dict, bool, str]:
        keys = {"prtg": ("url", "api_token", "username", "passhash", "verify_ssl"),
                "mcp": ("url", "username", "password", "verify_ssl")}[kind]
        merged = dict(config)
        for key in keys:
            value = settings.get(f"{kind}_{key}")
            if value not in (None, ""):
                merged[key] = value
        if f"{kind}_enabled" in settings:
            enabled = _bool(settings[f"{kind}_enabled"], enabled)
        return merged, enabled, f"system_settings.{kind}_*"

    def _connector(self, name: str, title: str, kind: str, enabled: bool, config: dict, where: str) -> dict | None:
        doc: dict[str, Any] = {"name": name, "display_name": title, "type": kind, "enabled": enabled}
        interval = _duration(config.get("poll_interval"))
        if interval:
            doc["poll_interval"] = interval
        src = (lambda key: f"system_settings.{kind}_{key}") if where.startswith("system_settings") else \
            (lambda key: f"{where} → {key}")
        if kind in URL_TYPES:
            url = str(config.get("url") or "").strip()
            if not re.match(r"^https?://\S+$", url):
                self.report.skipped.append(f"connector {title!r} ({kind}): no url configured")
                return None
            doc["url"] = url.rstrip("/")
            for key in ("username",):
                if config.get(key):
                    doc[key] = str(config[key])
            for key in ("api_token", "passhash", "password"):
                ref = self.secret(name, key, config.get(key), src(key))
                if ref:
                    doc[key] = ref
            if kind == "prtg" and not ("api_token" in doc or ("username" in doc and "passhash" in doc)):
                self.report.skipped.append(f"connector {title!r} (prtg): neither api_token nor username+passhash")
                return None
            if kind in ("mcp", "milestone", "eaton_rest") and not ("username" in doc and "password" in doc):
                self.report.skipped.append(f"connector {title!r} ({kind}): username or password missing")
                return None
            if "verify_ssl" in config and not _bool(config.get("verify_ssl"), True):
                doc["tls"] = {"verify": False}
                self.report.notes.append(f"{name}: TLS verification was off; prefer tls.ca_bundle with the vendor's CA")
            return doc
        if kind == "snmp_trap":
            port = int(config.get("port") or 162)
            doc["listen"] = [f"0.0.0.0:{port}"]
            ref = self.secret(name, "community", config.get("community"), f"{where} → community")
            if ref:
                doc["communities"] = [ref]
            if port < 1024:
                self.report.notes.append(f"{name}: listens on UDP {port}; ports below 1024 need privileges "
                                         "(redirect to 1162 with the firewall instead)")
            return doc
        if kind in TARGET_TYPES:
            targets = [self._target(name, i, t, where, kind) for i, t in enumerate(config.get("targets") or [])]
            targets = [t for t in targets if t]
            if kind == "cradlepoint":
                keys = {k: self.secret(name, k, config.get(k), f"{where} → {k}")
                        for k in ("cp_api_id", "cp_api_key", "ecm_api_id", "ecm_api_key")}
                if all(keys.values()):
                    return {**doc, "mode": "api", **keys}
                doc["mode"] = "snmp"
            if not targets:
                self.report.skipped.append(f"connector {title!r} ({kind}): no targets configured")
                return None
            if kind in ("eaton", "siklu"):
                doc["mode"] = "snmp"
            if kind == "axis":
                for key in ("username",):
                    if config.get(key):
                        doc[key] = str(config[key])
                ref = self.secret(name, "password", config.get("password"), f"{where} → password")
                if ref:
                    doc["password"] = ref
            doc["targets"] = targets
            return doc
        self.report.skipped.append(f"connector {title!r}: type {kind!r} has no config-as-code equivalent")
        return None

    def _target(self, connector: str, i: int, target: Any, where: str, kind: str) -> dict | None:
        if isinstance(target, str):
            target = {"host": target}
        host = target.get("host") or target.get("ip") or target.get("address") if isinstance(target, dict) else None
        if not host:
            self.report.skipped.append(f"{connector}: target {i} has no host")
            return None
        out: dict[str, Any] = {"host": str(host)}
        if target.get("name"):
            out["name"] = str(target["name"])
        if str(target.get("port") or "").isdigit():
            out["port"] = int(target["port"])
        if kind == "axis":
            if target.get("username"):
                out["username"] = str(target["username"])
            ref = self.secret(connector, "password", target.get("password"), f"{where} → targets[{i}].password", f"target{i}")
            if ref:
                out["password"] = ref
        else:
            ref = self.secret(connector, "community", target.get("community"), f"{where} → targets[{i}].community",
                              f"target{i}")
            if ref:
                out["community"] = ref
        return out

    # ---- OID maps, dependencies, rules ----------------------------------------------------

    def oid_mappings(self) -> None:
        rows = self.rows("SELECT oid_pattern, vendor, alert_type, category, default_severity, title_template, "
                         "description, is_clear_event, clear_oid_pattern, mib_name, mib_object FROM oid_mappings "
                         "ORDER BY oid_pattern, vendor NULLS FIRST")
        by_oid = {r["oid_pattern"]: r["alert_type"] for r in rows}
        mappings = []
        for r in rows:
            severity = str(r["default_severity"] or "warning").lower()
            m: dict[str, Any] = {"oid": r["oid_pattern"], "alert_type": r["alert_type"],
                                 "category": r["category"] if r["category"] in CATEGORIES else "unknown",
                                 "severity": severity if severity in SEVERITIES else "warning",
                                 "title": jinja(r["title_template"]) or f"{r['alert_type']} - {{{{ device_name }}}}"}
            for key, col in (("description", "description"), ("vendor", "vendor"), ("mib_name", "mib_name"),
                             ("mib_object", "mib_object")):
                if r[col]:
                    m[key] = jinja(r[col]) if key == "description" else r[col]
            if r["is_clear_event"] or severity == "clear":
                clears = [by_oid[r["clear_oid_pattern"]]] if r["clear_oid_pattern"] in by_oid else \
                    CLEAR_PAIRS.get(r["alert_type"]) or [re.sub(r"_(up|restored|ok|clear)$", "_down", r["alert_type"])]
                m["clears"] = clears
                m["severity"] = "clear"
            mappings.append(m)
        if mappings:
            self.write("oidmaps/legacy.yaml", "OID mappings from the oid_mappings table", {"mappings": mappings})

    def dependencies(self) -> None:
        rows = self.rows("SELECT device_ip, depends_on_ip, dependency_type, description FROM dependencies "
                         "ORDER BY depends_on_ip, device_ip")
        deps = []
        for r in rows:
            d: dict[str, Any] = {"device": r["device_ip"], "depends_on": r["depends_on_ip"]}
            kind = str(r["dependency_type"] or "network")
            d["type"] = kind if kind in DEP_TYPES else "network"
            if kind not in DEP_TYPES:
                self.report.notes.append(f"dependency {r['device_ip']} → {r['depends_on_ip']}: type {kind!r} became network")
            if r["description"]:
                d["description"] = r["description"]
            deps.append(d)
        if deps:
            self.write("dependencies.d/legacy.yaml", "Dependencies from the dependencies table", {"dependencies": deps})

    def rules(self) -> None:
        rows = self.rows("SELECT name, description, enabled, priority, conditions, channels, throttle_minutes "
                         "FROM notification_rules ORDER BY priority, name")
        rules, names = [], set()
        for r in rows:
            name = slug(r["name"])
            while name in names:
                name = slug(name + "-2")
            names.add(name)
            conditions = r["conditions"] if isinstance(r["conditions"], dict) else {}
            match, unknown = {}, []
            for key, value in conditions.items():
                if key in MATCH_FIELDS and _matcher(value) is not None:
                    match[key] = _matcher(value)
                else:
                    unknown.append(key)
            rule: dict[str, Any] = {"name": name, "description": r["description"] or f"imported rule {r['name']!r}"}
            if r["enabled"] is False:
                rule["enabled"] = False
            if match:
                rule["match"] = match
            rule["notify"] = {"channels": ["legacy-log"]}
            if r["throttle_minutes"]:
                rule["notify"]["throttle"] = f"{int(r['throttle_minutes'])}m"
            rule["continue"] = True
            rules.append(rule)
            channels = r["channels"] if isinstance(r["channels"], list) else []
            self.report.notes.append(f"rule {name}: notifies the log channel for now; wire its old channels "
                                     f"{json.dumps(channels)[:200]} in rules/legacy.yaml")
            if unknown:
                self.report.notes.append(f"rule {name}: conditions not carried over: {', '.join(sorted(unknown))}")
        if rules:
            doc = {"channels": [{"name": "legacy-log", "type": "log"}], "rules": rules}
            self.write("rules/legacy.yaml", "Notification rules from the notification_rules table", doc)


def _matcher(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float, bool)) for v in value):
        return value
    return None


def import_legacy(database_url: str, out_dir: str | Path) -> ImportReport:
    """Read the old database at `database_url`; write the YAML tree under `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.read_only = True
        importer = _Importer(conn, out)
        importer.connectors()
        importer.oid_mappings()
        importer.dependencies()
        importer.rules()
    return importer.report
