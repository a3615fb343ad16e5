"""Checks across files, after every document passed its schema: names, references,
overlaps, the dependency graph, and what a connector type needs beyond its schema."""
from __future__ import annotations

import difflib
import ipaddress
from datetime import datetime, timezone
from collections.abc import Set as AbstractSet
from typing import Any, Iterable, Sequence

from ..connectors import catalog
from ..errors import Level, Problem
from ..model import Severity
from .topology import Topology
from .bundle import Bundle, Dependency, Device, Matcher, Source
from .ruletests import test_problems
from .schema import parse_listen
from .yamlfile import YamlDocument, json_path


def _p(src: Source, path: str, message: str, hint: str | None = None, level: Level = Level.ERROR) -> Problem:
    return Problem(src.file, src.line, src.col, path, message, hint, level)


# ---- dependencies ----------------------------------------------------------------------------

# The last inputs and answers of resolve_dependencies and _cycle_problems: a reload that
# does not touch dependencies.d hands them the same (cached) objects, and gets the same
# Dependency objects back, so the pipeline keeps its topology (ConfigView.reuse).
_last_resolved: tuple[list, list, bool, tuple] | None = None
_last_cycles: tuple[tuple, tuple, list[Problem]] | None = None


def _same_items(a: Sequence, b: Sequence) -> bool:
    """The same objects in the same order (tuples compared item by item)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x is y:
            continue
        if not (type(x) is tuple and type(y) is tuple and _same_items(x, y)):
            return False
    return True


def resolve_dependencies(devices: list[Device], raw: list, quiet_unknown: bool = False
                         ) -> tuple[list[Device], list[Dependency], list[Problem]]:
    """Resolve device names in dependencies to IPs (names are declared under `devices:`)."""
    global _last_resolved
    last = _last_resolved
    if last is not None and last[2] == quiet_unknown and _same_items(last[0], devices) and _same_items(last[1], raw):
        return last[3]
    answer = _resolve_dependencies(devices, raw, quiet_unknown)
    _last_resolved = (list(devices), list(raw), quiet_unknown, answer)
    return answer


def _resolve_dependencies(devices: list[Device], raw: list, quiet_unknown: bool
                          ) -> tuple[list[Device], list[Dependency], list[Problem]]:
    problems: list[Problem] = []
    by_name: dict[str, Device] = {}
    by_ip: dict[str, Device] = {}
    for d in devices:
        if d.name in by_name:
            first = by_name[d.name].source
            problems.append(_p(d.source, d.source.path, f"device name {d.name!r} is declared twice (also at {first})"))
        by_name.setdefault(d.name, d)
        if d.ip in by_ip:
            other = by_ip[d.ip]
            problems.append(_p(d.source, d.source.path,
                               f"IP {d.ip} is declared for both {other.name!r} ({other.source}) and {d.name!r}"))
        by_ip.setdefault(d.ip, d)

    def address(doc: YamlDocument, text: str, path: tuple, allow_cidr: bool) -> str | None:
        m = doc.mark(path)
        if text in by_name:
            return by_name[text].ip
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            pass
        if "/" in text:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                problems.append(Problem(doc.file, m.line, m.col, json_path(path), f"{text!r} is not a valid CIDR network"))
                return None
            if not allow_cidr:
                problems.append(Problem(doc.file, m.line, m.col, json_path(path),
                                        f"depends_on must be one device, not a network ({text})",
                                        hint="name the upstream device, or its IP address"))
                return None
            return str(net)
        if quiet_unknown:  # perhaps declared in a dependency file that did not load
            return None
        guess = difflib.get_close_matches(text, list(by_name), n=1)
        problems.append(Problem(doc.file, m.line, m.col, json_path(path),
                                f"unknown device {text!r}: not a declared device name, an IP address or a CIDR",
                                hint=f"did you mean {guess[0]!r}?" if guess else
                                "declare it under devices: with its ip, or use its IP address"))
        return None

    deps: list[Dependency] = []
    seen: dict[tuple[str, str, str], Source] = {}
    for doc, downstream, upstream, dtype, description, source, path in raw:
        up = address(doc, upstream, (*path, "depends_on"), allow_cidr=False)
        for j, down_text in enumerate(downstream):
            down_path = (*path, "device", j) if (*path, "device", 0) in doc.marks else (*path, "device")
            down = address(doc, down_text, down_path, allow_cidr=True)
            if up is None or down is None:
                continue
            if down == up:
                m = doc.mark(down_path)
                problems.append(Problem(doc.file, m.line, m.col, json_path(down_path),
                                        f"{down_text!r} depends on itself", hint="remove this dependency"))
                continue
            key = (down, up, dtype)
            if key in seen:
                problems.append(_p(source, json_path(path), f"duplicate dependency {down_text} → {upstream} ({dtype}); first at {seen[key]}",
                                   level=Level.WARNING))
                continue
            seen[key] = source
            deps.append(Dependency(down, up, dtype, description, source))
    return devices, deps, problems


def _cycle_problems(bundle: Bundle) -> list[Problem]:
    global _last_cycles
    last = _last_cycles
    if last is not None and _same_items(last[0], bundle.dependencies) and _same_items(last[1], bundle.devices):
        return list(last[2])
    out = _find_cycle_problems(bundle)
    _last_cycles = (bundle.dependencies, bundle.devices, out)
    return list(out)


def _find_cycle_problems(bundle: Bundle) -> list[Problem]:
    names = {d.ip: d.name for d in bundle.devices}
    label = lambda ip: f"{names[ip]} ({ip})" if ip in names else ip
    out = []
    for cycle in Topology(bundle.dependencies).find_cycles():
        chain = " → ".join([label(cycle[0].device), *(label(e.upstream) for e in cycle)])
        where = ", ".join(str(e.dependency.source) for e in cycle)
        out.append(_p(cycle[0].dependency.source, cycle[0].dependency.source.path, f"dependency cycle: {chain}",
                      hint=f"the edges of the cycle are at {where}; remove one"))
    return out


# ---- names and references ------------------------------------------------------------------

def _unique(items: Iterable, what: str) -> list[Problem]:
    first: dict[str, Source] = {}
    out = []
    for item in items:
        if item.name in first:
            out.append(_p(item.source, item.source.path + ".name", f"{what} name {item.name!r} is already used at {first[item.name]}",
                          hint=f"{what} names are unique across the whole tree"))
        else:
            first[item.name] = item.source
    return out


def _known(name: str, known: Iterable[str], what: str) -> str:
    guess = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {guess[0]!r}?" if guess else f"define the {what}, or fix the name"


def _matcher_problems(matchers: tuple[Matcher, ...], src: Source, path: str, bundle: Bundle,
                      quiet: AbstractSet[str] = frozenset()) -> list[Problem]:
    out = []
    severities = {s.value for s in Severity}
    connectors = {c.name for c in bundle.connectors}
    for m in matchers:
        values = m.value if isinstance(m.value, tuple) else (m.value,)
        src = m.source or src
        path = src.path
        if m.field == "severity" and m.op not in ("regex", "not_regex", "exists"):
            for v in values:
                if str(v) not in severities:
                    out.append(_p(src, path, f"{v!r} is not a severity",
                                  hint=f"severities, most severe first: {', '.join(s.value for s in Severity)}"))
        elif m.op in ("gt", "gte", "lt", "lte") and not all(isinstance(v, (int, float)) for v in values):
            severity_like = any(str(v) in severities for v in values)
            out.append(_p(src, path, f"{m.op} needs a number for {m.field}, got {m.value!r}",
                          hint="severity comparisons are written on the severity field: severity: {gte: major}"
                          if severity_like else None))
        if m.op == "cidr":
            for v in values:
                try:
                    ipaddress.ip_network(str(v), strict=False)
                except ValueError:
                    out.append(_p(src, path, f"{v!r} is not a CIDR network (e.g. 10.1.0.0/16)"))
        if m.field == "connector" and m.op in ("eq", "in", "ne", "not_in"):
            for v in values:
                if v not in connectors and "connector" not in quiet:
                    out.append(_p(src, path, f"unknown connector {v!r}",
                                  hint=_known(str(v), connectors, "connector")))
    return out


def _oid_overlaps(bundle: Bundle) -> list[Problem]:
    first: dict[tuple, Any] = {}
    out = []
    for m in bundle.oid_mappings:
        key = (m.pattern.text, frozenset(m.conditions))
        if key in first:
            other = first[key]
            out.append(_p(m.source, m.source.path, f"OID map {m.pattern.text} overlaps the one at {other.source}: "
                                                  "same OID and the same varbind conditions",
                          hint="remove one, or tell them apart with `when:` varbind conditions"))
        else:
            first[key] = m
    return out


def _connector_problems(bundle: Bundle, locate) -> list[Problem]:
    out = []
    listeners: dict[tuple[str, int], Source] = {}
    for c in bundle.connectors:
        s = c.settings
        spec = catalog.get(c.type)
        for finding in (spec.check(c.name, s, c.enabled) if spec is not None and spec.check else ()):
            out.append(_p(c.source, c.source.path + (f".{finding.path}" if finding.path else ""), finding.message,
                          hint=finding.hint, level=Level.WARNING if finding.warning else Level.ERROR))
        for user in s.get("v3_users", ()):
            if "priv_protocol" in user and "auth_protocol" not in user:
                out.append(_p(c.source, c.source.path + ".v3_users", f"v3 user {user['user']!r}: privacy needs authentication too (auth_protocol)"))
            for proto, key in (("auth_protocol", "auth_key"), ("priv_protocol", "priv_key")):
                if proto in user and key not in user:
                    out.append(_p(c.source, c.source.path + ".v3_users", f"v3 user {user['user']!r}: {proto} needs {key}"))
        if c.enabled:  # any type with a socket of its own (`listen:`): two cannot share an address
            for i, text in enumerate(s.get("listen", ())):
                host, port = parse_listen(text)
                address = (host, port)
                clash = listeners.get(address) or next((src for (h, p), src in listeners.items()
                                                    if p == port and "0.0.0.0" in (h, host) or p == port and "::" in (h, host)), None)
                if clash:
                    at = locate(c.source, "listen", i)
                    out.append(_p(at, at.path, f"connector {c.name!r} listens on {text}, already taken by the connector at {clash}"))
                listeners.setdefault(address, c.source)
    return out


def _rule_problems(bundle: Bundle, locate, quiet: set[str]) -> list[Problem]:
    out = []
    channels = {c.name for c in bundle.channels}
    for r in bundle.rules:
        out.extend(_matcher_problems(r.match, r.source, f"{r.source.path}", bundle, quiet))
        if r.notify:
            for i, ch in enumerate(r.notify.channels):
                if ch not in channels and "rule" not in quiet:
                    at = locate(r.source, "notify", "channels", i)
                    out.append(_p(at, at.path, f"rule {r.name!r} notifies unknown channel {ch!r}",
                                  hint=_known(ch, channels, "channel under channels:")))
        if r.time and bool(r.time.start) != bool(r.time.end):
            at = locate(r.source, "time")
            out.append(_p(at, at.path, "a time window needs both start and end"))
        if not any((r.set, r.notify, r.suppress, r.correlate)):
            out.append(_p(r.source, f"{r.source.path}", f"rule {r.name!r} has no action (set, notify, suppress or correlate)",
                          level=Level.WARNING))
    now = datetime.now(timezone.utc)
    for s in bundle.silences:
        out.extend(_matcher_problems(s.match, s.source, f"{s.source.path}", bundle, quiet))
        start = datetime.fromisoformat(s.starts_at) if s.starts_at else None
        end = datetime.fromisoformat(s.ends_at) if s.ends_at else None
        if start and end and end <= start:
            out.append(_p(s.source, f"{s.source.path}", f"silence {s.name!r} ends before it starts"))
        elif end and end < now and not s.schedule:
            out.append(_p(s.source, f"{s.source.path}", f"silence {s.name!r} expired at {s.ends_at}",
                          hint="delete it (git keeps the history)", level=Level.WARNING))
        if not (start or end or s.schedule):
            out.append(_p(s.source, f"{s.source.path}", f"silence {s.name!r} has no end: it silences forever",
                          hint="give ends_at or a schedule; a permanent mute is better written as a suppress rule",
                          level=Level.WARNING))
    return out


# What a rule test names that a file of that kind defines: unknown only if every such file loaded.
_DEFINED_BY = {"connector": ("unknown connector",), "rule": ("unknown channel", "unknown rule", "unknown silence")}


def _follow_on(problem: Problem, quiet: set[str]) -> bool:
    return any(word in problem.message for kind in quiet for word in _DEFINED_BY.get(kind, ()))


def check_bundle(bundle: Bundle, parts: Any) -> list[Problem]:
    out: list[Problem] = []
    out += _unique(bundle.connectors, "connector")
    out += _unique(bundle.channels, "channel")
    out += _unique(bundle.rules, "rule")
    out += _unique(bundle.silences, "silence")
    out += _unique(bundle.tests, "test")
    if len(parts.priority_matrix_sources) > 1:
        first = parts.priority_matrix_sources[0]
        for src in parts.priority_matrix_sources[1:]:
            out.append(_p(src, src.path, f"priority_matrix is already defined at {first}",
                          hint="define it once in the tree"))
    for src in parts.suppression_sources[1:]:
        out.append(_p(src, src.path, f"suppression is already defined at {parts.suppression_sources[0]}",
                      hint="define it once in the tree (dependencies.d)"))
    out += _oid_overlaps(bundle)
    out += _cycle_problems(bundle)
    out += _connector_problems(bundle, locate=parts.locate)
    quiet = parts.failed  # kinds with a file that did not load (see loader._Parts)
    out += _rule_problems(bundle, parts.locate, quiet)
    out += [p for p in test_problems(bundle, parts.locate) if not _follow_on(p, quiet)]
    return out
