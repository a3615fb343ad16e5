"""YAML 1.2 core-schema tag resolution and scalar values, and what a YAML 1.1 reader would make of a scalar.

Editors (yaml-language-server) and most current tools read YAML 1.2; PyYAML and older
tools read 1.1, where `NO` is false, `18:30` is 1110 (base 60) and `010` is 8. The
engine reads 1.2; `differs_in_11` names the 1.1 reading so validate can warn users
whose files were written for a 1.1 reader.
"""
from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.resolver import BaseResolver, Resolver

_T = "tag:yaml.org,2002:"


class CoreResolver(BaseResolver):
    """Implicit tags of the YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1023-core-schema)."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regexp, _first in (
    (_T + "null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_T + "bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (_T + "int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (_T + "float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
):
    CoreResolver.add_implicit_resolver(_tag, re.compile(_regexp), _first)

_RESOLVER_11 = Resolver()
# 1.1 resolvers are indexed by a scalar's first character; the 1.2 ones start with a subset
# of those characters. Any other first character is a string in both (most scalars).
FIRST_11 = frozenset(k for k in Resolver.yaml_implicit_resolvers if k)
_OCTAL_11 = re.compile(r"^[-+]?0[0-7_]+$")


def differs_in_11(text: str, tag12: str) -> str | None:
    """How a YAML 1.1 reader reads the plain scalar `text` when that differs from the
    1.2 reading (tag `tag12`), else None."""
    if text and text[0] not in FIRST_11:
        return None
    tag11 = _RESOLVER_11.resolve(yaml.ScalarNode, text, (True, False))
    if tag11 == tag12:
        if tag12 == _T + "int" and _OCTAL_11.match(text) and text.lstrip("+-") != "0":
            return f"the octal number {_value_11(text)!r}"
        return None
    if tag11 == _T + "str":  # 0o17, 1e3: numbers in 1.2 only
        return f"the string {text!r}"
    if tag11 == _T + "null":
        return "null"
    if tag11 == _T + "timestamp":
        return None  # no schema takes a 1.1 date, so no file written for 1.1 relied on one
    value = _value_11(text)
    if tag11 == _T + "bool":
        return f"the boolean {str(value).lower()}"
    return f"the number {value!r}"


def _value_11(text: str):
    try:
        return yaml.safe_load(text) if len(text) < 100 else text
    except (yaml.YAMLError, ValueError, OverflowError):
        return text


# Python refuses int() of more than 4,300 digits; no config value needs a tenth of that.
MAX_NUMBER_CHARS = 100
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


class ScalarError(ValueError):
    """A scalar the core schema does not read (the caller adds where it stands)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def core_value(tag: str, text: str, style: str | None) -> Any:
    """The value of a scalar of `tag` by the YAML 1.2 core schema; ScalarError when it has none."""
    if style == '"' and (found := _NOT_TEXT.search(text)):  # only escapes ("\0", "\ud800") make these
        bad = found.group()
        raise ScalarError(f"the escape for U+{ord(bad):04X} is not text ("
                       + ("a NUL byte" if bad == "\x00" else "half of a UTF-16 surrogate pair") + ")",
                       hint="remove the escape; no config value needs it (PostgreSQL cannot even store a NUL)")
    if tag == _T + "str":
        return text
    if tag == _T + "null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise ScalarError(f"{text!r} is not a null (null, ~ or nothing)")
        return None
    if tag == _T + "bool":
        if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
            raise ScalarError(f"{text!r} is not a boolean (true or false)")
        return text.lower() == "true"
    if tag in (_T + "int", _T + "float") and len(text) > MAX_NUMBER_CHARS:
        raise ScalarError(f"a number of {len(text)} characters; the limit is {MAX_NUMBER_CHARS}",
                       hint="quote it if it is text (an ID, a serial number)")
    if tag == _T + "int":
        if _INT.match(text):
            return int(text, 10)
        if _OCT.match(text):
            return int(text[2:], 8)
        if _HEX.match(text):
            return int(text[2:], 16)
        raise ScalarError(f"{text!r} is not an integer")
    if tag == _T + "float":
        if _FLOAT.match(text):
            return float(text)
        if _INF.match(text):
            return -math.inf if text.startswith("-") else math.inf
        if _NAN.match(text):
            return math.nan
        if _INT.match(text):
            return float(text)
        raise ScalarError(f"{text!r} is not a number")
    raise ScalarError(f"unsupported YAML tag {tag}",
                   hint="write the value plainly (or quoted); only !!str, !!int, !!float, !!bool and !!null are read")
