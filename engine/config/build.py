"""Schema-valid documents → frozen dataclasses (one function per kind).

Runs only on documents that passed their schema, so it may index keys the schema
requires. Problems it can still find (unresolvable secrets) are returned, not raised.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import Level, Problem
from ..model import Severity
from .bundle import (Channel, ConnectorConfig, CorrelateAction, FlapPolicy, Device, Matcher, NotifyAction,
                     OidMapping, Rule, RuleTest, SetAction, Silence, Source, Suppression, TimeWindow,
                     VarbindCondition)
from .durations import parse_duration
from .oids import parse_oid_pattern
from .secrets import Secret, is_reference, resolve
from .yamlfile import YamlDocument, json_path


class Builder:
    """Builds dataclasses from one document, collecting problems as it goes."""

    def __init__(self, doc: YamlDocument, environ: Any = None, base_dir: Path | None = None,
                 check_secrets: bool = False):
        self.doc = doc
        self.check_secrets = check_secrets
        self.environ = os.environ if environ is None else environ
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.secrets: list[Secret] = []

    def source(self, path: tuple) -> Source:
        m = self.doc.mark(path)
        return Source(self.doc.file, m.line, m.col, json_path(path), tuple(path))

    def warn(self, path: tuple, message: str, hint: str | None = None) -> None:
        m = self.doc.mark(path)
        self.problems.append(Problem(self.doc.file, m.line, m.col, json_path(path), message, hint, Level.WARNING))

    def freeze(self, value: Any, path: tuple, check_secrets: bool) -> Any:
        """Deep-freeze; reference strings become Secrets (unresolvable ones warn when `check_secrets`)."""
        if isinstance(value, dict):
            return MappingProxyType({k: self.freeze(v, (*path, k), check_secrets) for k, v in value.items()})
        if isinstance(value, list):
            return tuple(self.freeze(v, (*path, i), check_secrets) for i, v in enumerate(value))
        if is_reference(value):
            secret = resolve(value, self.environ, self.base_dir)
            self.secrets.append(secret)
            if self.check_secrets and check_secrets and not secret.available:
                self.warn(path, f"{value}: {secret.problem}",
                          hint="set it in the engine's environment (or create the file) before the engine starts")
            return secret
        return value

    # ---- connectors ----------------------------------------------------------------------

    def connector(self, data: dict, path: tuple) -> ConnectorConfig:
        common = {"name", "type", "display_name", "description", "enabled", "poll_interval", "timeout", "retries",
                  "tags", "category", "severity_map", "flapping", "root_causes"}
        enabled = data.get("enabled", True)
        settings = {k: v for k, v in data.items() if k not in common}
        return ConnectorConfig(
            name=data["name"], type=data["type"], enabled=enabled,
            display_name=data.get("display_name", data["name"]),
            poll_interval=parse_duration(data.get("poll_interval", "60s")),
            timeout=parse_duration(data.get("timeout", "10s")),
            retries=data.get("retries", 3),
            tags=tuple(data.get("tags", ())), category=data.get("category"),
            severity_map=MappingProxyType({str(k): Severity(v) for k, v in data.get("severity_map", {}).items()}),
            settings=self.freeze(settings, path, check_secrets=enabled),
            source=self.source(path), flapping=self.flapping(data.get("flapping")),
            root_causes=MappingProxyType({str(k): str(v) for k, v in data.get("root_causes", {}).items()}))

    @staticmethod
    def flapping(data: dict | None) -> FlapPolicy | None:
        if not data:
            return None
        window = parse_duration(data["window"])
        return FlapPolicy(changes=data["changes"], window=window,
                          stable=parse_duration(data["stable"]) if "stable" in data else window)

    @staticmethod
    def suppression(data: dict) -> Suppression:
        def per_type(value) -> MappingProxyType:
            if value is None:
                return MappingProxyType({})
            if isinstance(value, dict):
                return MappingProxyType({str(k): parse_duration(v) for k, v in value.items()})
            return MappingProxyType({"default": parse_duration(value)})
        return Suppression(settle=per_type(data.get("settle")), lookback=per_type(data.get("lookback")))

    # ---- OID maps -----------------------------------------------------------------------

    def oid_mappings(self, data: dict) -> list[OidMapping]:
        out = []
        for i, m in enumerate(data["mappings"]):
            path = ("mappings", i)
            conditions = tuple(VarbindCondition(varbind=c["varbind"], equals=c.get("equals"),
                                                one_of=tuple(c.get("in", ())), regex=c.get("regex"))
                               for c in m.get("when", ()))
            sev_from = m.get("severity_from")
            clears = tuple(m.get("clears", ()))
            out.append(OidMapping(
                pattern=parse_oid_pattern(m["oid"]), conditions=conditions, alert_type=m["alert_type"],
                category=m["category"], severity=Severity(m["severity"]), title=m["title"],
                description=m.get("description"), vendor=m.get("vendor", data.get("vendor")),
                mib_name=m.get("mib_name", data.get("mib")), mib_object=m.get("mib_object"),
                clears=clears, resource_key=m.get("resource_key"),
                severity_from=(sev_from["varbind"], MappingProxyType({str(k): Severity(v) for k, v in sev_from["values"].items()}))
                if sev_from else None,
                value_maps=MappingProxyType({str(k): MappingProxyType({str(rk): rv for rk, rv in v.items()})
                                             for k, v in m.get("value_maps", {}).items()}),
                tags=tuple(m.get("tags", ())), notes=m.get("notes"), source=self.source(path),
                root_cause=m.get("root_cause")))
        return out

    # ---- dependencies --------------------------------------------------------------------

    def devices(self, data: dict) -> list[Device]:
        return [Device(name=d["name"], ip=d["ip"], site=d.get("site"), role=d.get("role"),
                       tags=tuple(d.get("tags", ())), source=self.source(("devices", i)))
                for i, d in enumerate(data.get("devices", ()))]

    def raw_dependencies(self, data: dict) -> list[tuple[tuple[str, ...], str, str, str | None, Source, tuple]]:
        """Dependencies with names not yet resolved to IPs (that needs every file's devices)."""
        out = []
        for i, d in enumerate(data.get("dependencies", ())):
            downstream = d["device"] if isinstance(d["device"], list) else [d["device"]]
            out.append((tuple(downstream), d["depends_on"], d.get("type", "network"), d.get("description"),
                        self.source(("dependencies", i)), ("dependencies", i)))
        return out

    # ---- rules ---------------------------------------------------------------------------

    def matchers(self, match: dict, path: tuple) -> tuple[Matcher, ...]:
        out = []
        for field_name, cond in match.items():
            where = (*path, field_name)
            if isinstance(cond, dict):
                for op, value in cond.items():
                    out.append(Matcher(field_name, op, tuple(value) if isinstance(value, list) else value,
                                       self.source((*where, op))))
            elif isinstance(cond, list):
                out.append(Matcher(field_name, "in", tuple(cond), self.source(where)))
            else:
                out.append(Matcher(field_name, "eq", cond, self.source(where)))
        return tuple(out)

    @staticmethod
    def time_window(data: dict | None) -> TimeWindow | None:
        if not data:
            return None
        return TimeWindow(days=tuple(data.get("days", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))),
                          start=data.get("start"), end=data.get("end"), timezone=data.get("timezone", "UTC"))

    def rule(self, r: dict, i: int, order: int) -> Rule:
        """Rule `i` of the document (`r`, its data), at `order` in the tree."""
        s, n, c = r.get("set"), r.get("notify"), r.get("correlate")
        suppress = r.get("suppress")
        return Rule(
            name=r["name"], description=r.get("description"), enabled=r.get("enabled", True),
            order=order, match=self.matchers(r.get("match", {}), ("rules", i, "match")), time=self.time_window(r.get("time")),
            set=SetAction(tags=tuple(s.get("tags", ())), impact=s.get("impact"), urgency=s.get("urgency"),
                          priority=s.get("priority"), severity=Severity(s["severity"]) if "severity" in s else None,
                          category=s.get("category"), custom_fields=MappingProxyType(dict(s.get("custom_fields", {}))))
            if s else None,
            notify=NotifyAction(channels=tuple(n["channels"]),
                                title_template=n.get("template", {}).get("title"),
                                body_template=n.get("template", {}).get("body"),
                                throttle=parse_duration(n.get("throttle", "0s")),
                                repeat_interval=parse_duration(n.get("repeat_interval", "0s")),
                                group_by=tuple(n.get("group_by", ())),
                                group_wait=parse_duration(n.get("group_wait", "0s")),
                                group_interval=parse_duration(n.get("group_interval", "5m")),
                                send_resolved=n.get("send_resolved", True)) if n else None,
            suppress=(suppress.get("reason", f"suppressed by rule {r['name']}") if isinstance(suppress, dict)
                      else f"suppressed by rule {r['name']}") if suppress else None,
            correlate=CorrelateAction(count=c["count"], window=parse_duration(c["window"]),
                                      group_by=tuple(c.get("group_by", ())),
                                      parent_alert_type=c.get("parent", {}).get("alert_type", r["name"].replace("-", "_")),
                                      parent_title=c.get("parent", {}).get("title"),
                                      parent_severity=Severity(c["parent"]["severity"]) if "severity" in c.get("parent", {}) else None,
                                      parent_category=c.get("parent", {}).get("category")) if c else None,
            continue_=r.get("continue", False), source=self.source(("rules", i)),
            flapping=self.flapping(r.get("flapping")))

    def channels(self, data: dict) -> list[Channel]:
        out = []
        for i, ch in enumerate(data.get("channels", ())):
            settings = {k: v for k, v in ch.items() if k not in ("name", "type")}
            out.append(Channel(name=ch["name"], type=ch["type"],
                               settings=self.freeze(settings, ("channels", i), check_secrets=True),
                               source=self.source(("channels", i))))
        return out

    def silences(self, data: dict) -> list[Silence]:
        return [Silence(name=s["name"], match=self.matchers(s["match"], ("silences", i, "match")), starts_at=s.get("starts_at"),
                        ends_at=s.get("ends_at"), schedule=self.time_window(s.get("schedule")),
                        owner=s.get("owner"), comment=s.get("comment"), source=self.source(("silences", i)))
                for i, s in enumerate(data.get("silences", ()))]

    def tests(self, data: dict) -> list[RuleTest]:
        return [RuleTest(name=t["name"], description=t.get("description"),
                         events=tuple(self.freeze(e, ("tests", i, "events", j), check_secrets=False)
                                      for j, e in enumerate(t["events"])),
                         expect=self.freeze(t["expect"], ("tests", i, "expect"), check_secrets=False),
                         source=self.source(("tests", i)))
                for i, t in enumerate(data["tests"])]
