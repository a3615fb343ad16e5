"""A Bundle as the rows of the config-backed tables (the projection the dashboard and
legacy readers query). Secrets appear only as their references."""
from __future__ import annotations

from typing import Any

from ..config.bundle import Bundle, Matcher, OidMapping, Rule
from ..config.secrets import Secret
from .projection import ConfigProjection, ConnectorRow, DependencyRow, NotificationRuleRow, OidMappingRow


def plain(value: Any) -> Any:
    """JSON-able, secrets as their `${env:…}` reference."""
    if isinstance(value, Secret):
        return str(value)
    if hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def _conditions(matchers: tuple[Matcher, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in matchers:
        out.setdefault(m.field, {})[m.op] = plain(m.value)
    return out


def _mapping_row(m: OidMapping) -> OidMappingRow:
    return OidMappingRow(
        oid_pattern=m.pattern.text, vendor=m.vendor, alert_type=m.alert_type[:100], category=m.category,
        default_severity=m.severity.value, title_template=m.title[:255], description=m.description,
        is_clear_event=m.is_clear, clear_oid_pattern=None, mib_name=m.mib_name, mib_object=m.mib_object,
        notes=m.notes or str(m.source),
        match_key=f"{m.pattern.text}|{m.vendor or ''}|" + ";".join(
            f"{c.varbind}={c.equals}{list(c.one_of) if c.one_of else ''}{c.regex or ''}" for c in m.conditions))


# The rows of the last projection's OID mappings: an unchanged OID map file gives the same
# (cached) OidMapping objects, so a reload that edits rules does not convert 1,000 mappings again.
_last_mappings: tuple[tuple[OidMapping, ...], tuple[OidMappingRow, ...]] = ((), ())


def _mapping_rows(mappings: tuple[OidMapping, ...]) -> tuple[OidMappingRow, ...]:
    global _last_mappings
    before, rows = _last_mappings
    if len(before) != len(mappings) or any(a is not b for a, b in zip(before, mappings)):
        rows = tuple(_mapping_row(m) for m in mappings)
        _last_mappings = (mappings, rows)
    return rows


def _rule_row(r: Rule) -> NotificationRuleRow:
    return NotificationRuleRow(
        name=r.name, description=r.description, enabled=r.enabled, priority=r.order,
        conditions=_conditions(r.match), channels=list(r.notify.channels) if r.notify else [],
        throttle_minutes=int((r.notify.throttle if r.notify else 0) // 60))


# The last projection's rule rows by Rule, by identity: a reload keeps the Rules an edit did not
# touch (config/loader.py), and their rows stay the same objects (projection.py compares those first).
_last_rules: dict[int, tuple[Rule, NotificationRuleRow]] = {}


def _rule_rows(rules: tuple[Rule, ...]) -> tuple[NotificationRuleRow, ...]:
    global _last_rules
    before, now = _last_rules, {}
    for r in rules:
        hit = before.get(id(r))
        now[id(r)] = hit if hit is not None and hit[0] is r else (r, _rule_row(r))
    _last_rules = now
    return tuple(now[id(r)][1] for r in rules)


def projection_of(bundle: Bundle) -> ConfigProjection:
    connectors = tuple(ConnectorRow(c.name, c.type, c.enabled, {
        **plain(c.settings), "display_name": c.display_name, "poll_interval": c.poll_interval,
        "source": str(c.source)}) for c in bundle.connectors)
    mappings = _mapping_rows(bundle.oid_mappings)
    deps = tuple(DependencyRow(d.device, d.depends_on, d.type, d.description) for d in bundle.dependencies)
    rules = _rule_rows(bundle.rules)
    return ConfigProjection(connectors=connectors, oid_mappings=mappings, dependencies=deps, notification_rules=rules)
