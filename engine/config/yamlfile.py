"""Read one YAML file into plain data plus a line/column mark for every node.

PyYAML's composer gives us nodes with marks; we build the Python value ourselves so we
can refuse what PyYAML would silently accept (duplicate keys, alias bombs, several
documents) and remember where every value came from, for `file:line:col` errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..errors import Problem

MAX_FILE_BYTES = 4 * 1024 * 1024
# An alias expands to a copy of its anchor; capping the nodes built per file stops
# "billion laughs" documents long before they cost memory.
MAX_NODES = 200_000

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


class _Refusal(Exception):
    def __init__(self, mark: yaml.Mark | None, message: str, hint: str | None = None):
        self.mark = mark
        self.message = message
        self.hint = hint


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
    """Parse `raw` (the bytes of `file`); return the document or the located problems.

    libyaml parses; when it finds an error, the pure-Python parser parses again for its
    more precise message (which character, what was expected)."""
    doc, problems = _load_yaml(file, raw, _FAST_LOADER)
    if problems and _FAST_LOADER is not yaml.SafeLoader:
        return _load_yaml(file, raw, yaml.SafeLoader)
    return doc, problems


def _load_yaml(file: str, raw: bytes, loader_class) -> tuple[YamlDocument | None, list[Problem]]:
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(file, 0, 0, "$", f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(file, line, col, "$", f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
                    hint="save the file as UTF-8")
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return None, [Problem(file, 1, 1, "$", "file is empty",
                              hint="delete the file, or add content of the kind its folder holds")]
    try:
        loader = loader_class(text)
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(file, text, exc)]
    try:
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "expected a single document" in str(exc):
                m = exc.problem_mark
                return None, [Problem(file, m.line + 1, m.column + 1, "$",
                                      "more than one YAML document in this file",
                                      hint="put each document in a file of its own, or use a list")]
            raise
        if node is None:
            return None, [Problem(file, 1, 1, "$", "file is empty")]
        marks: dict = {}
        data = _build(loader, node, (), marks, _Budget(), depth=0)
        return YamlDocument(file, data, marks), []
    except _Refusal as exc:
        line, col = (exc.mark.line + 1, exc.mark.column + 1) if exc.mark else (1, 1)
        return None, [Problem(file, line, col, "$", exc.message, hint=exc.hint)]
    except yaml.MarkedYAMLError as exc:
        m = exc.problem_mark or exc.context_mark
        line, col = (m.line + 1, m.column + 1) if m else (1, 1)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "YAML syntax error"
        hint = None
        if exc.problem and "\\t" in exc.problem or (exc.problem and "'\\t'" in exc.problem):
            hint = "YAML does not allow tabs for indentation; indent with spaces"
        elif "mapping values are not allowed" in message:
            hint = "a value containing ': ' must be quoted"
        return None, [Problem(file, line, col, "$", f"YAML syntax error: {message}", hint=hint)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(file, text, exc)]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, "$", f"YAML error: {exc}")]
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


# libyaml's parser when PyYAML was built with it (the wheels are): ~10x faster, same nodes and marks.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SCALAR = yaml.ScalarNode
_SEQ = yaml.SequenceNode
_MAP = yaml.MappingNode


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, marks: dict, budget: _Budget, depth: int) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _Refusal(node.start_mark, f"document expands to more than {MAX_NODES} nodes",
                       hint="anchors/aliases that expand exponentially ('billion laughs') are refused")
    if depth > 64:
        raise _Refusal(node.start_mark, "document nests deeper than 64 levels")
    # Only the first visit of a node records marks: an alias repeats its anchor's marks.
    marks.setdefault(path, Mark(node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, _SCALAR):
        if node.tag not in _SAFE_SCALAR_TAGS:
            raise _Refusal(node.start_mark, f"unsupported YAML tag {node.tag}")
        return loader.construct_object(node)
    if isinstance(node, _SEQ):
        return [_build(loader, child, (*path, i), marks, budget, depth + 1) for i, child in enumerate(node.value)]
    if isinstance(node, _MAP):
        out: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refusal(key_node.start_mark, "YAML merge keys ('<<') are not supported",
                               hint="write the keys out; anchors and aliases of whole values still work")
            if not isinstance(key_node, _SCALAR):
                raise _Refusal(key_node.start_mark, "mapping keys must be plain scalars")
            key = loader.construct_object(key_node)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(key_node.value)
            if key in out:
                first = marks.get((*path, key, "<key>"))
                where = f" (first defined at line {first.line})" if first else ""
                raise _Refusal(key_node.start_mark, f"duplicate key {key!r}{where}",
                               hint="each key may appear once in a mapping")
            marks[(*path, key, "<key>")] = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(loader, value_node, (*path, key), marks, budget, depth + 1)
        return out
    raise _Refusal(node.start_mark, "unsupported YAML node")


_SAFE_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
