"""Read one YAML file into plain data plus a line/column mark for every node.

PyYAML's composer gives us nodes with marks; we build the Python value ourselves so we
can refuse what PyYAML would silently accept (duplicate keys, alias bombs, several
documents) and remember where every value came from, for `file:line:col` errors.

Plain scalars are read by the YAML 1.2 core schema, as editors (yaml-language-server)
read them: `NO`, `on` and `18:30` are strings, octal is `0o17` only, there are no
timestamps. Where a YAML 1.1 reader would have read a plain scalar differently, the
document carries a warning (yaml11.py). Nesting depth and number sizes are checked
before anything is built, so no input reaches a RecursionError or a huge int().
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import Level, Problem
from .yaml11 import CoreResolver, differs_in_11

if TYPE_CHECKING:
    from yaml._yaml import Mark as CMark  # libyaml's marks (the fast loader's)

MAX_FILE_BYTES = 4 * 1024 * 1024
# An alias expands to a copy of its anchor; capping the nodes built per file stops
# "billion laughs" documents long before they cost memory.
MAX_NODES = 200_000
MAX_DEPTH = 64
# Python refuses int() of more than 4,300 digits; no config value needs a tenth of that.
MAX_NUMBER_CHARS = 100

Path_ = tuple  # a JSON path as a tuple of keys and indexes


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class YamlDocument:
    """The data of one file and where each path in it was written."""

    file: str
    data: Any
    marks: dict  # Path_ -> Mark (value position); (*path, "<key>") -> Mark of the key itself

    def mark(self, path: Path_) -> Mark:
        """The mark of the deepest known node on `path` (a missing key points at its parent)."""
        path = tuple(path)
        while path:
            found = self.marks.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.marks.get((), Mark(1, 1))

    def key_mark(self, path: Path_) -> Mark:
        """The mark of a mapping key (for 'unknown key' errors), else of its value."""
        return self.marks.get((*tuple(path), "<key>")) or self.mark(path)


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.warnings: list[Problem] = []


class _Refusal(Exception):
    def __init__(self, mark: yaml.Mark | CMark | None, message: str, hint: str | None = None, path: Path_ = ()):
        self.mark = mark
        self.message = message
        self.hint = hint
        self.path = path


def json_path(path: Path_) -> str:
    """('rules', 2, 'match') -> $.rules[2].match"""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}"
        else:
            out += "[" + repr(str(part)) + "]"
    return out


def load_yaml(file: str, raw: bytes) -> tuple[YamlDocument | None, list[Problem]]:
    """Parse `raw` (the bytes of `file`); return the document (or None) and its problems:
    errors when the document is None, else the YAML 1.1 warnings.

    libyaml parses; when it finds a syntax error, the pure-Python parser parses again for
    its more precise message (which character, what was expected)."""
    doc, problems, syntax_error = _load_yaml(file, raw, _FastLoader)
    if syntax_error and _FastLoader is not _SlowLoader:
        doc, problems, _ = _load_yaml(file, raw, _SlowLoader)
    return doc, problems


def _load_yaml(file: str, raw: bytes, loader_class) -> tuple[YamlDocument | None, list[Problem], bool]:
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(file, 0, 0, "$", f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}")], False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(file, line, col, "$", f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
                    hint="save the file as UTF-8")
        ], False
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return None, [Problem(file, 1, 1, "$", "file is empty",
                              hint="delete the file, or add content of the kind its folder holds")], False
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(file, text, exc)], False
    try:
        if _may_nest_deeper(text, MAX_DEPTH):
            _check_depth(loader_class(text))
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "expected a single document" in str(exc):
                m = exc.problem_mark
                assert m is not None  # the composer marks the second document
                return None, [Problem(file, m.line + 1, m.column + 1, "$",
                                      "more than one YAML document in this file",
                                      hint="put each document in a file of its own, or use a list")], False
            raise
        if node is None:
            return None, [Problem(file, 1, 1, "$", "file is empty")], False
        marks: dict = {}
        budget = _Budget()
        data = _build(file, node, (), marks, budget, depth=0)
        return YamlDocument(file, data, marks), budget.warnings, False
    except _Refusal as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (1, 1)
        return None, [Problem(file, line, col, json_path(exc.path), exc.message, hint=exc.hint)], False
    except yaml.MarkedYAMLError as exc:
        m = exc.problem_mark or exc.context_mark
        line, col = (m.line + 1, m.column + 1) if m else (1, 1)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "YAML syntax error"
        hint = None
        if exc.problem and "\\t" in exc.problem or (exc.problem and "'\\t'" in exc.problem):
            hint = "YAML does not allow tabs for indentation; indent with spaces"
        elif "mapping values are not allowed" in message:
            hint = "a value containing ': ' must be quoted"
        return None, [Problem(file, line, col, "$", f"YAML syntax error: {message}", hint=hint)], True
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(file, text, exc)], False
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, "$", f"YAML error: {exc}")], False
    finally:
        loader.dispose()


def _may_nest_deeper(text: str, limit: int) -> bool:
    """A cheap upper bound of the nesting depth: each flow bracket opens at most one level,
    and a block collection nested in another starts at least one column further right
    (a sequence under a key may share its column: two levels per column)."""
    brackets = text.count("[") + text.count("{")
    if brackets > limit:
        return True
    widest = max((len(ln) - len(ln.lstrip(" -?:")) for ln in text.splitlines()), default=0)
    return brackets + 2 * widest + 2 > limit


def _check_depth(loader) -> None:
    """Walk the parser's events (flat, no recursion) and refuse a document nesting deeper
    than MAX_DEPTH, before the (recursive) composer sees it."""
    depth = 0
    try:
        while True:
            event = loader.get_event()
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refusal(event.start_mark, f"document nests deeper than {MAX_DEPTH} levels",
                                   hint="flatten the structure; no config kind needs this depth")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """Control characters and the like: PyYAML reports a character offset, not a mark."""
    pos = exc.position
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Problem(file, line, col, "$", f"YAML error: control character U+{_codepoint(exc.character):04X} is not allowed in YAML",
                   hint="remove the control character; quote binary data as an escaped string")


def _codepoint(character: int | str) -> int:
    return character if isinstance(character, int) else ord(character)


class _SlowLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                  CoreResolver):
    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        CoreResolver.__init__(self)


try:  # libyaml's parser when PyYAML was built with it (the wheels are): ~10x faster, same nodes and marks
    from yaml.cyaml import CParser  # type: ignore[attr-defined]  # the stubs do not re-export it
except ImportError:  # pragma: no cover
    _FastLoader: type = _SlowLoader
else:
    class _CLoader(CParser, CoreResolver):  # type: ignore[misc]
        def __init__(self, stream):
            CParser.__init__(self, stream)
            CoreResolver.__init__(self)

    _FastLoader = _CLoader

_SCALAR = yaml.ScalarNode
_SEQ = yaml.SequenceNode
_MAP = yaml.MappingNode
_T = "tag:yaml.org,2002:"


def _build(file: str, node: yaml.Node, path: Path_, marks: dict, budget: _Budget, depth: int) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _Refusal(node.start_mark, f"document expands to more than {MAX_NODES} nodes",
                       hint="anchors/aliases that expand exponentially ('billion laughs') are refused")
    if depth > MAX_DEPTH:  # aliases can nest what the event walk saw flat
        raise _Refusal(node.start_mark, f"document nests deeper than {MAX_DEPTH} levels")
    # Only the first visit of a node records marks: an alias repeats its anchor's marks.
    first = path not in marks
    marks.setdefault(path, Mark(node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, _SCALAR):
        try:
            value = scalar_value(node)
        except _Refusal as exc:
            exc.path = path
            raise
        if first:
            _warn_11(file, node, path, budget)
        return value
    if isinstance(node, _SEQ):
        if node.tag != _T + "seq":
            raise _Refusal(node.start_mark, f"unsupported YAML tag {node.tag}")
        return [_build(file, child, (*path, i), marks, budget, depth + 1) for i, child in enumerate(node.value)]
    if isinstance(node, _MAP):
        if node.tag != _T + "map":
            raise _Refusal(node.start_mark, f"unsupported YAML tag {node.tag}")
        out: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == _T + "merge":
                raise _Refusal(key_node.start_mark, "YAML merge keys ('<<') are not supported",
                               hint="write the keys out; anchors and aliases of whole values still work")
            if not isinstance(key_node, _SCALAR):
                raise _Refusal(key_node.start_mark, "mapping keys must be plain scalars")
            key = scalar_value(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            if key in out:
                first_key = marks.get((*path, key, "<key>"))
                where = f" (first defined at line {first_key.line})" if first_key else ""
                raise _Refusal(key_node.start_mark, f"duplicate key {key!r}{where}",
                               hint="each key may appear once in a mapping")
            marks[(*path, key, "<key>")] = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _warn_11(file, key_node, (*path, key), budget)
            out[key] = _build(file, value_node, (*path, key), marks, budget, depth + 1)
        return out
    raise _Refusal(node.start_mark, "unsupported YAML node")


_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def scalar_value(node: yaml.ScalarNode) -> Any:
    """The value of a scalar by the YAML 1.2 core schema (also for explicit tags such as !!int)."""
    tag, text = node.tag, node.value
    if node.style == '"' and (found := _NOT_TEXT.search(text)):  # only escapes ("\0", "\ud800") make these
        bad = found.group()
        raise _Refusal(node.start_mark, f"the escape for U+{ord(bad):04X} is not text ("
                       + ("a NUL byte" if bad == "\x00" else "half of a UTF-16 surrogate pair") + ")",
                       hint="remove the escape; no config value needs it (PostgreSQL cannot even store a NUL)")
    if tag == _T + "str":
        return text
    if tag == _T + "null":
        if text not in ("", "~", "null", "Null", "NULL"):
            raise _Refusal(node.start_mark, f"{text!r} is not a null (null, ~ or nothing)")
        return None
    if tag == _T + "bool":
        if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
            raise _Refusal(node.start_mark, f"{text!r} is not a boolean (true or false)")
        return text.lower() == "true"
    if tag in (_T + "int", _T + "float") and len(text) > MAX_NUMBER_CHARS:
        raise _Refusal(node.start_mark, f"a number of {len(text)} characters; the limit is {MAX_NUMBER_CHARS}",
                       hint="quote it if it is text (an ID, a serial number)")
    if tag == _T + "int":
        if _INT.match(text):
            return int(text, 10)
        if _OCT.match(text):
            return int(text[2:], 8)
        if _HEX.match(text):
            return int(text[2:], 16)
        raise _Refusal(node.start_mark, f"{text!r} is not an integer")
    if tag == _T + "float":
        if _FLOAT.match(text):
            return float(text)
        if _INF.match(text):
            return -math.inf if text.startswith("-") else math.inf
        if _NAN.match(text):
            return math.nan
        if _INT.match(text):
            return float(text)
        raise _Refusal(node.start_mark, f"{text!r} is not a number")
    raise _Refusal(node.start_mark, f"unsupported YAML tag {tag}",
                   hint="write the value plainly (or quoted); only !!str, !!int, !!float, !!bool and !!null are read")


def _warn_11(file: str, node: yaml.ScalarNode, path: Path_, budget: _Budget) -> None:
    if node.style:  # quoted or block scalars read the same in every YAML version (plain: None, or "" from libyaml)
        return
    reading = differs_in_11(node.value, node.tag)
    if reading is None:
        return
    shown = repr(scalar_value(node)) if node.tag != _T + "str" else f"the string {node.value!r}"
    budget.warnings.append(Problem(
        file, node.start_mark.line + 1, node.start_mark.column + 1, json_path(path),
        f"{node.value} is read as {shown} (YAML 1.2, as editors read it); a YAML 1.1 reader reads {reading}",
        hint="quote it to make every reader agree" if node.tag == _T + "str" else
        "write it so that both read the same (e.g. 0o17 for octal, a quoted string for text)",
        level=Level.WARNING))
