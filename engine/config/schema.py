"""JSON Schemas of the config kinds, and validation into located Problems.

Schemas live as JSON files in schemas/. A kind's schema gets the shared
definitions (defs.json) injected as $defs; a connector type's schema is its own
keys merged with the common connector keys, closed with additionalProperties: false.
Single-value checks that JSON Schema cannot express (secret references, templates,
regexes, OID patterns, IPs) are custom `x-…` keywords, so their errors carry the
same path as every other schema error.
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import re
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ..connectors import catalog
from ..errors import Problem
from .oids import parse_oid_pattern
from .secrets import ENV_NAME, parse_reference
from .templates import ALERT_FIELDS, NOTIFICATION_FIELDS, TRAP_FIELDS, check_template
from .yamlfile import YamlDocument, json_path

KINDS = ("connector", "oidmap", "dependency", "rule", "ruletest")
CHANNEL_TYPES = ("webhook", "email", "slack", "teams", "pagerduty", "log")
_TEMPLATE_FIELDS = {"trap": TRAP_FIELDS, "alert": ALERT_FIELDS, "notification": NOTIFICATION_FIELDS}


def _read(name: str) -> dict:
    return json.loads(resources.files(__package__).joinpath("schemas", name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _defs() -> dict:
    return _read("defs.json")


def _with_defs(schema: dict, schema_id: str) -> dict:
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id, **schema}
    out["$defs"] = {**_defs(), **schema.get("$defs", {})}
    out["$defs"].pop("$comment", None)
    return out


def kind_schema(kind: str) -> dict:
    """The full schema of a kind, e.g. 'oidmap', 'connector.prtg', 'channel.email', or 'connector'.
    Connector types' own schemas are in their folders (connectors/catalog.py)."""
    return _kind_schema(kind, catalog.names())


@lru_cache(maxsize=None)
def _kind_schema(kind: str, connector_types: tuple[str, ...]) -> dict:
    if kind.startswith("connector.") and kind.split(".", 1)[1] in connector_types:
        ctype = kind.split(".", 1)[1]
        spec = catalog.get(ctype)
        assert spec is not None  # in connector_types
        common, own = _read("connector.common.json"), spec.load_schema()
        props = {**common["properties"], **own["properties"]}
        props["type"] = {"const": ctype, "description": common["properties"]["type"]["description"]}
        schema = {"title": f"Connector of type {ctype} (connectors.d/*.yaml)", "description": own.get("description", ""),
                  "type": "object", "additionalProperties": False,
                  "required": sorted(set(common["required"]) | set(own.get("required", []))),
                  "properties": props}
        return _with_defs(schema, f"https://opsconductor.dev/schemas/{kind}.json")
    if kind == "connector":
        # For editors: one schema accepting any connector type, chosen by `type`.
        branches = [{"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                     "then": {"$ref": f"#/$defs/connector.{t}"}} for t in connector_types]
        defs = {f"connector.{t}": {k: v for k, v in _kind_schema(f"connector.{t}", connector_types).items()
                                   if k not in ("$schema", "$id", "$defs")}
                for t in connector_types}
        single = {"type": "object", "required": ["name", "type"],
                  "properties": {"type": {"enum": list(connector_types)}}, "allOf": branches}
        # if/then rather than oneOf: an editor reports the typo in the branch the file is in
        # ("'api_tokn' was unexpected"), not why each of the other branches failed as well.
        schema = {"title": "Connector file (connectors.d/*.yaml): one connector, or a `connectors:` list",
                  "if": {"type": "object", "required": ["connectors"]},
                  "then": {"type": "object", "additionalProperties": False, "required": ["connectors"],
                           "properties": {"connectors": {"type": "array", "items": {"$ref": "#/$defs/connector_any"}}}},
                  "else": {"$ref": "#/$defs/connector_any"},
                  "$defs": {**defs, "connector_any": single}}
        return _with_defs(schema, "https://opsconductor.dev/schemas/connector.json")
    if kind.startswith("channel.") and kind.split(".", 1)[1] in CHANNEL_TYPES:
        rule = _read("rule.json")
        schema = dict(rule["$defs"][kind])
        schema["properties"] = {**schema["properties"], "type": {"const": kind.split(".", 1)[1]}}
        return _with_defs({**schema, "$defs": rule["$defs"]}, f"https://opsconductor.dev/schemas/{kind}.json")
    if kind == "rule":
        # Channels chosen by type, for editors (validate checks each channel by its type's schema
        # itself, with hints, and drops these errors: loader._load_rules).
        schema = _read("rule.json")
        channels = schema["properties"]["channels"]
        items = {**channels["items"], "properties": {"type": {"enum": list(CHANNEL_TYPES)}},
                 "allOf": [{"if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                            "then": {"$ref": f"#/$defs/channel.{t}"}} for t in CHANNEL_TYPES]}
        schema["properties"] = {**schema["properties"], "channels": {**channels, "items": items}}
        return _with_defs(schema, "https://opsconductor.dev/schemas/rule.json")
    if kind in ("oidmap", "dependency", "ruletest", "server"):
        return _with_defs(_read(f"{kind}.json"), f"https://opsconductor.dev/schemas/{kind}.json")
    raise KeyError(kind)


def schema_names() -> list[str]:
    return [*KINDS, "server", *(f"connector.{t}" for t in catalog.names()), *(f"channel.{t}" for t in CHANNEL_TYPES)]


# ---- custom keywords -------------------------------------------------------------------------

def _x_secret(validator, enabled, instance, schema) -> Iterator[ValidationError]:
    if not enabled or not isinstance(instance, str):
        return
    parsed = parse_reference(instance)
    if parsed is None:
        err = ValidationError("a secret must be a reference (${env:NAME} or ${file:/path}), not a literal value")
        err.opsc_hint = "export the value in the environment and write ${env:SOME_NAME}, or put it in a file readable by the engine and write ${file:/path/to/file}"
        yield err
    elif parsed[0] == "env" and not ENV_NAME.match(parsed[1]):
        yield ValidationError(f"{parsed[1]!r} is not a valid environment variable name")
    elif parsed[0] == "file" and not parsed[1]:
        yield ValidationError("${file:} needs a path")


def _x_template(validator, context, instance, schema) -> Iterator[ValidationError]:
    if isinstance(instance, str):
        for message in check_template(instance, _TEMPLATE_FIELDS[context]):
            err = ValidationError(message)
            unknown = re.search(r"unknown field\(s\) ([^;]+);", message)
            if unknown:
                guesses = difflib.get_close_matches(unknown.group(1).split(",")[0].strip(), _TEMPLATE_FIELDS[context], n=1)
                if guesses:
                    err.opsc_hint = f"did you mean {guesses[0]!r}?"
            yield err


def _x_regex(validator, enabled, instance, schema) -> Iterator[ValidationError]:
    if enabled and isinstance(instance, str):
        try:
            re.compile(instance)
        except re.error as exc:
            yield ValidationError(f"regular expression does not compile: {exc}")


def _parsed_by(parse: Any):
    """A keyword whose check is a parser: its ValueError message is the error."""
    def check(validator, enabled, instance, schema) -> Iterator[ValidationError]:
        if enabled and isinstance(instance, str):
            try:
                parse(instance)
            except ValueError as exc:
                yield ValidationError(str(exc))
    return check


def _parse_ip(text: str) -> None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]+)):(?P<port>[0-9]{1,5})$")


def parse_listen(text: str) -> tuple[str, int]:
    m = _LISTEN.match(text)
    if not m:
        raise ValueError(f"{text!r} is not host:port (IPv6 as [::]:1162)")
    host = m.group("v6") or m.group("host")
    port = int(m.group("port"))
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    if m.group("v6"):
        ipaddress.IPv6Address(host)
    return host, port


def _x_timezone(validator, enabled, instance, schema) -> Iterator[ValidationError]:
    if enabled and isinstance(instance, str):
        try:
            ZoneInfo(instance)
        except (ZoneInfoNotFoundError, ValueError):
            err = ValidationError(f"unknown time zone {instance!r}")
            err.opsc_hint = "use an IANA name such as Europe/Berlin, America/New_York or UTC"
            yield err


def _x_datetime(validator, enabled, instance, schema) -> Iterator[ValidationError]:
    if enabled and isinstance(instance, str):
        try:
            parsed = datetime.fromisoformat(instance)
        except ValueError:
            yield ValidationError(f"{instance!r} is not an ISO 8601 date-time (e.g. 2026-12-01T22:00:00+01:00)")
            return
        if parsed.tzinfo is None:
            err = ValidationError(f"{instance!r} has no time zone offset")
            err.opsc_hint = "append Z or an offset such as +01:00"
            yield err


_Validator = jsonschema.validators.extend(Draft202012Validator, {
    "x-secret": _x_secret, "x-template": _x_template, "x-regex": _x_regex, "x-oid-pattern": _parsed_by(parse_oid_pattern),
    "x-ip": _parsed_by(_parse_ip), "x-listen": _parsed_by(parse_listen), "x-timezone": _x_timezone, "x-datetime": _x_datetime,
})


@lru_cache(maxsize=None)
def validator_for(kind: str) -> Draft202012Validator:
    # Validation runs on an inlined copy: $ref lookups through the registry cost more than
    # the checks themselves (the schemas are not recursive, so inlining terminates).
    schema = kind_schema(kind)
    return _Validator(_inline(schema, schema.get("$defs", {})))


def _inline(node: Any, defs: dict) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _inline(v, defs) for k, v in node.items() if k != "$ref"}
            return {**rest, **target}  # the definition's own description explains its errors
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


# ---- errors → problems -----------------------------------------------------------------------

_TYPE_NAMES = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping", "null": "nothing"}


_BOOLS_11 = {"yes", "no", "on", "off", "y", "n"}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"{value!r} ({type(value).__name__})"


def _leaf(error: ValidationError) -> ValidationError:
    """For oneOf/anyOf: the error of the branch whose type fits the value (the one the user meant)."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [errs for errs in by_branch.values()
                   if not any(e.validator == "type" and not e.relative_path for e in errs)]
        if len(fitting) > 1 and isinstance(error.instance, (dict, list)):  # an enum of names is no mapping
            fitting = [errs for errs in fitting
                       if not any(e.validator in ("enum", "const") and not e.relative_path for e in errs)]
        if len(fitting) == 1:
            return _leaf(fitting[0][0])
        deepest = best_match(error.context)
        if deepest is not None and deepest.validator not in ("type", "oneOf", "anyOf"):
            return _leaf(deepest)
    return error


@lru_cache(maxsize=None)
def _quick_validator(kind: str) -> Any:
    """The same schema and x- keywords in jsonschema_rs, which only says valid or not (None:
    not available). A valid file, the usual case, is checked ~100x faster (a 1,000-rule file:
    1 ms instead of 115); an invalid one gets its located errors from jsonschema below."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a dependency; jsonschema alone gives the same answers
        return None
    validator = validator_for(kind)
    keywords = {name: _quick_keyword(check) for name, check in validator.VALIDATORS.items() if name.startswith("x-")}
    try:
        return jsonschema_rs.Draft202012Validator(validator.schema, keywords=keywords, validate_formats=False)
    except Exception:  # noqa: BLE001 - a pattern its regex engine refuses: jsonschema alone
        return None


def _quick_keyword(check: Any) -> type:
    class Keyword:
        def __init__(self, parent_schema: dict, value: Any, schema_path: Any) -> None:
            self.value, self.parent_schema = value, parent_schema

        def validate(self, instance: Any) -> None:
            for error in check(None, self.value, instance, self.parent_schema):
                raise ValueError(error.message)

    return Keyword


def _quickly_valid(kind: str, instance: Any) -> bool:
    quick = _quick_validator(kind)
    try:
        return quick is not None and bool(quick.is_valid(instance))
    except Exception:  # noqa: BLE001 - a value it cannot take (NaN, a huge int): jsonschema decides
        return False


def problems_from(doc: YamlDocument, kind: str, instance: Any, prefix: tuple = ()) -> list[Problem]:
    """Validate `instance` (found at `prefix` inside `doc`) against `kind`."""
    if _quickly_valid(kind, instance):
        return []
    out: list[Problem] = []
    for error in validator_for(kind).iter_errors(instance):
        leaf = _leaf(error)
        if leaf.validator == "pattern" and leaf.schema.get("x-secret"):
            continue  # the pattern is for editors; x-secret says the same with a hint
        out.extend(_to_problems(doc, leaf, prefix))
    return out


def _to_problems(doc: YamlDocument, error: ValidationError, prefix: tuple) -> list[Problem]:
    path = (*prefix, *error.absolute_path)
    hint = getattr(error, "opsc_hint", None)
    v = error.validator
    mark = doc.mark(path)
    named = [k for k in path if isinstance(k, str)]
    if v == "x-secret" and named:
        hint = f"export the value as an environment variable and write ${{env:{named[-1].upper()}}} (or ${{file:/path}})"
    if v == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        problems = []
        for key in error.instance:
            if key in allowed or any(re.match(p, str(key)) for p in patterns):
                continue
            guess = difflib.get_close_matches(str(key), allowed, n=1)
            key_mark = doc.key_mark((*path, key))
            problems.append(Problem(doc.file, key_mark.line, key_mark.col, json_path((*path, key)),
                                    f"unknown key {key!r}",
                                    hint=f"did you mean {guess[0]!r}?" if guess else
                                    f"allowed keys: {', '.join(allowed)}"))
        return problems
    if v == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else error.message
        return [Problem(doc.file, mark.line, mark.col, json_path(path), f"missing required key {name!r}", hint=hint)]
    if v == "type":
        expected: list[str] = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        want = " or ".join(_TYPE_NAMES.get(t, t) for t in expected)
        if "string" in expected and isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool):
            hint = hint or "put the value in quotes"
        if "string" in expected and "duration" in str(error.schema.get("description", "")):
            hint = f"a duration needs a unit, e.g. {error.instance}s or {error.instance}m"
        if "boolean" in expected and isinstance(error.instance, str) and error.instance.lower() in _BOOLS_11:
            hint = hint or f"YAML 1.2 booleans are true and false; {error.instance} is a string"
        return [Problem(doc.file, mark.line, mark.col, json_path(path), f"expected {want}, got {_describe(error.instance)}", hint=hint)]
    if v in ("enum", "const"):
        options = error.validator_value if v == "enum" else [error.validator_value]
        guess = difflib.get_close_matches(str(error.instance), [str(o) for o in options], n=1)
        return [Problem(doc.file, mark.line, mark.col, json_path(path),
                        f"{error.instance!r} is not one of: {', '.join(str(o) for o in options)}",
                        hint=hint or (f"did you mean {guess[0]!r}?" if guess else None))]
    if v == "pattern":
        desc = error.schema.get("description")
        msg = f"{error.instance!r} is not valid" + (f": {desc[0].lower() + desc[1:]}" if desc else f" (must match {error.validator_value})")
        return [Problem(doc.file, mark.line, mark.col, json_path(path), msg, hint=hint)]
    if v == "minItems" and error.validator_value == 1:
        return [Problem(doc.file, mark.line, mark.col, json_path(path), "must not be empty", hint=hint)]
    if v == "oneOf" and error.schema.get("oneOf") and all("required" in b for b in error.schema["oneOf"]):
        options = [" + ".join(b["required"]) for b in error.schema["oneOf"]]
        return [Problem(doc.file, mark.line, mark.col, json_path(path), f"needs exactly one of: {'; '.join(options)}", hint=hint)]
    return [Problem(doc.file, mark.line, mark.col, json_path(path), error.message, hint=hint)]
