"""Jinja2 templates from config: compiled in a sandbox, checked against known fields.

One environment factory serves validation and rendering, so a template that
validates is the template that runs.
"""
from __future__ import annotations

import re
from functools import lru_cache

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

# The names a template may use, per place in the config.
TRAP_FIELDS = frozenset({
    "device_ip", "device_name", "device", "source_address", "trap_oid", "oid", "trap_name", "vendor",
    "varbinds", "vb", "values", "uptime", "community", "agent_addr", "mib_name", "mib_object",
    "alert_type", "severity", "category", "connector", "source_system",
})
ALERT_FIELDS = frozenset({
    "id", "source_system", "source_alert_id", "connector", "device_ip", "device_name", "severity", "category",
    "alert_type", "impact", "urgency", "priority", "title", "message", "status", "is_clear", "occurred_at",
    "received_at", "tags", "custom_fields", "raw_data", "fingerprint", "occurrence_count", "last_occurrence_at",
    "correlated_to_id", "correlation_rule", "resource_key", "site",
})
NOTIFICATION_FIELDS = ALERT_FIELDS | frozenset({"alert", "alerts", "rule", "channel", "kind", "dashboard_url",
                                                "group", "group_labels", "device", "time", "url"})


@lru_cache(maxsize=2)
def environment(autoescape: bool = False) -> ImmutableSandboxedEnvironment:
    """The sandbox every config template runs in (no attribute access to internals,
    no mutation of the context). Undefined names render empty at run time; validation
    refuses unknown names beforehand."""
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=jinja2.ChainableUndefined,
                                        keep_trailing_newline=False)
    return env


@lru_cache(maxsize=8192)
def check_template(source: str, allowed: frozenset[str]) -> list[str]:
    """Problems with a template, as messages; empty when it compiles and uses only `allowed`."""
    if "{" not in source:
        return []
    simple = _simple_parts(source)
    if simple is not None:  # plain lookups: no need to generate code to know the names
        unknown = sorted({path[0] for p in simple if not isinstance(p, str) for path in p
                          if not isinstance(path, str)} - allowed)  # a str term is a string literal
        if unknown:
            return [f"template uses unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"]
        return []
    try:
        # find_undeclared_variables runs Jinja's code generator over the template, which finds
        # what parsing does not (an unknown filter or test, TemplateAssertionError): one pass
        # checks and lists the names. The generated Python is compiled when the template first
        # renders, not here (most validated templates never render in `opsc validate`).
        names = meta.find_undeclared_variables(environment().parse(source))
    except jinja2.TemplateSyntaxError as exc:
        return [f"template does not compile: {exc.message} (template line {exc.lineno})"]
    unknown = sorted(names - allowed)
    if unknown:
        return [f"template uses unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"]
    return []


@lru_cache(maxsize=4096)
def compile_template(source: str, autoescape: bool = False) -> jinja2.Template:
    return environment(autoescape).from_string(source)


def render(source: str, context: dict, autoescape: bool = False) -> str:
    if "{" not in source:  # plain text: no template to run (the common alert_type case)
        return source
    parts = None if autoescape else _simple_parts(source)
    if parts is not None:
        out = []
        for part in parts:
            value = part if isinstance(part, str) else _evaluate(context, part)
            if value is _FALLBACK:
                break
            out.append(value)
        else:
            return "".join(out)
    return compile_template(source, autoescape).render(**context)


# Most titles are text around plain lookups ("Interface Down - {{ device_name }}",
# "{{ vb.ifIndex }}", "{{ values.ifOperStatus or vb.ifOperStatus or 'unknown' }}"). Those
# render here without building a Jinja context: the same output as the sandbox
# (tests/config/test_templates.py compares them), a tenth of the time.
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_LITERAL = r"'[^'\\{}]*'|\"[^\"\\{}]*\""
_TERM = f"(?:{_PATH}|{_LITERAL})"
_SIMPLE = re.compile(r"\{\{\s*(" + _TERM + r"(?:\s+or\s+" + _TERM + r")*)\s*\}\}")
_PATH_RE, _LITERAL_RE = re.compile(_PATH), re.compile(_LITERAL)
_FALLBACK = object()
_DICT_ATTRIBUTES = frozenset(dir(dict))
_MISSING = object()


@lru_cache(maxsize=4096)
def _simple_parts(source: str) -> tuple | None:
    """Literal text and, per `{{ }}`, its `or`-alternatives as paths; None when the template
    needs Jinja."""
    parts: list = []
    pos = 0
    for m in _SIMPLE.finditer(source):
        parts.append(source[pos:m.start()])
        terms = []
        for a in re.split(r"\s+or\s+", m.group(1).strip()):
            if _LITERAL_RE.fullmatch(a):
                terms.append(a[1:-1])  # a string: itself
            elif _PATH_RE.fullmatch(a) and a.split(".")[0] not in ("or", "and", "not", "if", "else", "in", "is"):
                terms.append(tuple(a.split(".")))
            else:
                return None  # e.g. a string literal holding " or "
        parts.append(tuple(terms))
        pos = m.end()
    parts.append(source[pos:])
    if any(isinstance(p, str) and ("{{" in p or "{%" in p or "{#" in p) for p in parts):
        return None  # anything beyond plain lookups goes to Jinja
    return tuple(p for p in parts if p != "")


def _evaluate(context: dict, alternatives: tuple[tuple[str, ...], ...]):
    """`a or b or c` as Jinja does it: the first truthy value, else the last one."""
    value = _MISSING
    for path in alternatives:
        value = path if isinstance(path, str) else _lookup(context, path)
        if value is _FALLBACK:
            return _FALLBACK
        if value is not _MISSING and value:
            break
    return "" if value is _MISSING else str(value)


def _lookup(context: dict, path: tuple[str, ...]):
    if path[0] not in context:
        return _MISSING
    value = context[path[0]]
    for name in path[1:]:
        if name.startswith("_"):
            return _MISSING  # the sandbox refuses private attributes
        if value.__class__ is dict and name not in _DICT_ATTRIBUTES:  # what getattr-then-[] ends in, minus an exception
            if name not in value:
                return _MISSING
            value = value[name]
            continue
        template_attr = getattr(value.__class__, "template_attr", None)  # a trap's varbinds
        if template_attr is not None:
            value = template_attr(value, name)
            continue
        try:
            value = getattr(value, name)
        except AttributeError:
            try:
                value = value[name]
            except (TypeError, LookupError):
                return _MISSING
    if callable(value):
        return _FALLBACK  # a method or class: let Jinja's sandbox decide what it prints
    return value
