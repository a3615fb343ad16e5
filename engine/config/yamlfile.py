"""Read one YAML file into plain data plus a line/column mark for every node.

PyYAML's parser (libyaml) gives us events with marks; we build the Python value from
them ourselves, in one flat pass with no node tree, so we can refuse what PyYAML would
silently accept (duplicate keys, alias bombs, several documents) and remember where
every value came from, for `file:line:col` errors. (Composing nodes first, then walking
them, then a separate pass for the depth check cost twice as much: a 1,000-rule file
is read in ~45 ms instead of ~100.)

Plain scalars are read by the YAML 1.2 core schema, as editors (yaml-language-server)
read them: `NO`, `on` and `18:30` are strings, octal is `0o17` only, there are no
timestamps. Where a YAML 1.1 reader would have read a plain scalar differently, the
document carries a warning (yaml11.py). Nesting depth, the node count (aliases
expanded) and number sizes are checked as the events come, so no input reaches a deep
structure, a huge one, or a huge int(). A syntax error anywhere in the file is reported
before what the file means (a duplicate key, an unsupported tag).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from ..errors import Level, Problem
from .yaml11 import FIRST_11, CoreResolver, ScalarError, core_value, differs_in_11

if TYPE_CHECKING:
    from yaml._yaml import Mark as CMark  # libyaml's marks (the fast loader's)

MAX_FILE_BYTES = 4 * 1024 * 1024
# An alias expands to a copy of its anchor; capping the nodes built per file stops
# "billion laughs" documents long before they cost memory.
MAX_NODES = 200_000
MAX_DEPTH = 64

Path_ = tuple  # a JSON path as a tuple of keys and indexes


class Mark(NamedTuple):
    """Where a node was written. A tuple of two ints rather than a dataclass: a 1,000-rule file
    has ~30,000, which the garbage collector then no longer tracks (each full collection of a
    reloading engine walked them all), and they are made 2-3x faster."""

    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True)
class YamlDocument:
    """The data of one file and where each path in it was written."""

    file: str
    data: Any
    marks: dict  # Path_ -> Mark (value position); (*path, "<key>") -> Mark of the key itself
    anchored: bool = False  # it defines an anchor: no part of it can be read again alone (yamlsplice.py)

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
    def __init__(self, mark: yaml.Mark | CMark | None, message: str, hint: str | None = None, path: Path_ = (),
                 before_syntax: bool = False):
        self.mark = mark
        self.message = message
        self.hint = hint
        self.path = path
        self.before_syntax = before_syntax  # reported even when the rest of the file has a syntax error


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
        data, marks, warnings, anchored = _compose(file, loader)
        return YamlDocument(file, data, marks, anchored), warnings, False
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


try:  # libyaml's parser when PyYAML was built with it (the wheels are): ~10x faster, same events and marks
    from yaml.cyaml import CParser  # type: ignore[attr-defined]  # the stubs do not re-export it
except ImportError:  # pragma: no cover
    _FastLoader: type = _SlowLoader
else:
    class _CLoader(CParser, CoreResolver):  # type: ignore[misc]
        def __init__(self, stream):
            CParser.__init__(self, stream)
            CoreResolver.__init__(self)

    _FastLoader = _CLoader

_T = "tag:yaml.org,2002:"


class _Open:
    """A collection being built: where it is, and what the next event fills in."""

    __slots__ = ("value", "path", "is_map", "key", "anchor", "mark", "log_at", "nodes_at", "height")

    def __init__(self, value: Any, path: Path_, anchor: str | None, mark: yaml.Mark, log_at: int, nodes_at: int):
        self.value, self.path, self.is_map, self.key = value, path, isinstance(value, dict), _NO_KEY
        self.anchor, self.mark, self.log_at, self.nodes_at, self.height = anchor, mark, log_at, nodes_at, 1


@dataclass(frozen=True)
class _Anchor:
    value: Any
    mark: yaml.Mark
    scalar: tuple | None  # (tag, text, style) of an anchored scalar (it may be used as a key)
    marks: tuple  # (path below the anchor, Mark, is a key's mark) of every node in it
    nodes: int
    height: int  # collections nested in it, itself included


_NO_KEY = object()
_MANY_DOCUMENTS = "more than one YAML document in this file"
_MANY_DOCUMENTS_HINT = "put each document in a file of its own, or use a list"
_SEQ_START, _MAP_START, _SEQ_END, _MAP_END = (yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.SequenceEndEvent,
                                              yaml.MappingEndEvent)
_SCALAR_EVENT, _ALIAS_EVENT = yaml.ScalarEvent, yaml.AliasEvent


def _compose(file: str, loader) -> tuple[Any, dict, list[Problem], bool]:
    """The document's value and marks, built from the parser's events in one flat pass.

    No recursion and no node tree: nesting depth, node count and alias expansion are
    checked as the events come, so nothing deep or huge is ever built. An alias is a
    copy of its anchor's value with the anchor's marks below the alias's path."""
    marks: dict = {}
    anchors: dict[str, _Anchor] = {}
    stack: list[_Open] = []
    current: list = []  # the event being read
    try:
        return _compose_events(file, loader, marks, anchors, stack, current)
    except _Refusal as refusal:
        if not refusal.before_syntax:  # a syntax error anywhere in the file is the first thing to fix
            names = {*anchors, *(o.anchor for o in stack if o.anchor)}
            refused = current[0] if current and not isinstance(current[0], _ALIAS_EVENT) else None
            if (name := getattr(refused, "anchor", None)) is not None:
                names.add(name)  # the refused node's own anchor: the rest may use it
            _check_the_rest(loader, names)
        raise


def _check_the_rest(loader, anchors: set[str]) -> None:
    """Read the remaining events: the parser raises on a syntax error; an undefined alias too."""
    while not isinstance(event := loader.get_event(), yaml.StreamEndEvent):
        if isinstance(event, _ALIAS_EVENT) and event.anchor not in anchors:
            raise _undefined(event)
        if getattr(event, "anchor", None):
            anchors.add(event.anchor)
        if isinstance(event, yaml.DocumentStartEvent):  # the first one was read: a second document
            raise _Refusal(event.start_mark, _MANY_DOCUMENTS, hint=_MANY_DOCUMENTS_HINT)


def _compose_events(file: str, loader: Any, marks: dict, anchors: dict[str, _Anchor], stack: list[_Open],
                    current: list) -> tuple[Any, dict, list[Problem], bool]:
    budget = _Budget()
    log: list = []  # (path, Mark, is a key's mark) while an anchored collection is open
    anchored = 0
    root: list = []
    get_event, resolve = loader.get_event, loader.resolve
    resolved: dict = {}  # (text, implicit) → tag: values repeat (severities, channel names)
    get_event()  # StreamStartEvent
    if isinstance(get_event(), yaml.StreamEndEvent):
        raise _Refusal(None, "file is empty")
    current.append(None)
    while True:
        current[0] = event = get_event()
        kind = event.__class__
        top = stack[-1] if stack else None
        if kind is _SEQ_END or kind is _MAP_END:
            top = stack.pop()
            if stack:
                stack[-1].height = max(stack[-1].height, top.height + 1)
            if top.anchor is not None:
                n = len(top.path)
                anchors[top.anchor] = _Anchor(top.value, top.mark, None,
                                              tuple((p[n:], m, k) for p, m, k in log[top.log_at:]),
                                              budget.nodes - top.nodes_at, top.height)
                anchored -= 1
                if not anchored:
                    log.clear()
            continue
        if kind is yaml.DocumentEndEvent:
            break
        if top is not None and top.is_map and top.key is _NO_KEY:  # a mapping key
            if kind is _SCALAR_EVENT:
                tag, text, style, mark = event.tag, event.value, event.style, event.start_mark
                if tag is None or tag == "!":
                    tag = resolved.get((text, event.implicit)) or _resolve(resolved, resolve, text, event.implicit)
                if event.anchor is not None:
                    _new_anchor(anchors, stack, event)
                    anchors[event.anchor] = _Anchor(_scalar(tag, text, style, mark), mark, (tag, text, style),
                                                    (((), Mark(mark.line + 1, mark.column + 1), False),), 1, 0)
            elif kind is _ALIAS_EVENT:
                found = _anchor(event, anchors, stack)
                if found.scalar is None:
                    raise _Refusal(found.mark, "mapping keys must be plain scalars")
                (tag, text, style), mark = found.scalar, found.mark
            else:
                raise _Refusal(event.start_mark, "mapping keys must be plain scalars")
            if tag == _T + "merge":
                raise _Refusal(mark, "YAML merge keys ('<<') are not supported",
                               hint="write the keys out; anchors and aliases of whole values still work")
            key = _scalar(tag, text, style, mark)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                key = str(text)
            key_at = (*top.path, key, "<key>")
            if key in top.value:
                first_key = marks.get(key_at)
                where = f" (first defined at line {first_key.line})" if first_key else ""
                raise _Refusal(mark, f"duplicate key {key!r}{where}", hint="each key may appear once in a mapping")
            marks[key_at] = key_mark = Mark(mark.line + 1, mark.column + 1)
            if anchored:
                log.append((key_at, key_mark, True))
            if not style and (not text or text[0] in FIRST_11):  # else both versions read a string
                _warn_11(file, tag, text, style, mark, key_at[:-1], budget)
            top.key = key
            continue
        path: Path_
        if top is None:
            path = ()
        elif top.is_map:
            path = (*top.path, top.key)
        else:
            path = (*top.path, len(top.value))
        mark = event.start_mark
        budget.nodes += 1
        if budget.nodes > MAX_NODES:
            raise _Refusal(mark, f"document expands to more than {MAX_NODES} nodes",
                           hint="anchors/aliases that expand exponentially ('billion laughs') are refused")
        if kind is _ALIAS_EVENT:
            value, height = _alias(event, anchors, stack, marks, path, budget, log if anchored else None)
            if top is not None and height:
                top.height = max(top.height, height + 1)
        else:
            node_mark = marks[path] = Mark(mark.line + 1, mark.column + 1)
            if anchored:
                log.append((path, node_mark, False))
            if kind is _SCALAR_EVENT:
                tag, text, style = event.tag, event.value, event.style
                if tag is None or tag == "!":
                    tag = resolved.get((text, event.implicit)) or _resolve(resolved, resolve, text, event.implicit)
                try:
                    value = _scalar(tag, text, style, mark)
                except _Refusal as exc:
                    exc.path = path
                    raise
                if not style and (not text or text[0] in FIRST_11):
                    _warn_11(file, tag, text, style, mark, path, budget)
                if event.anchor is not None:
                    _new_anchor(anchors, stack, event)
                    anchors[event.anchor] = _Anchor(value, mark, (tag, text, style), (((), node_mark, False),), 1, 0)
            else:
                if len(stack) + 1 > MAX_DEPTH:
                    raise _Refusal(mark, f"document nests deeper than {MAX_DEPTH} levels",
                                   hint="flatten the structure; no config kind needs this depth", before_syntax=True)
                tag = event.tag
                want = _T + ("seq" if kind is _SEQ_START else "map")
                if tag is not None and tag != "!" and tag != want:
                    raise _Refusal(mark, f"unsupported YAML tag {tag}")
                value = [] if kind is _SEQ_START else {}
                if event.anchor is not None:
                    _new_anchor(anchors, stack, event)
                    anchored += 1
                    if anchored == 1:
                        log.append((path, node_mark, False))
                opened = _Open(value, path, event.anchor, mark, len(log) - 1 if event.anchor else 0, budget.nodes - 1)
        if top is None:
            root.append(value)
        elif top.is_map:
            top.value[top.key] = value
            top.key = _NO_KEY
        else:
            top.value.append(value)
        if kind is _SEQ_START or kind is _MAP_START:
            stack.append(opened)
    event = get_event()
    if not isinstance(event, yaml.StreamEndEvent):
        raise _Refusal(event.start_mark, _MANY_DOCUMENTS, hint=_MANY_DOCUMENTS_HINT, before_syntax=True)
    return root[0], marks, budget.warnings, bool(anchors)


def _resolve(resolved: dict, resolve: Any, text: str, implicit: tuple) -> str:
    tag = resolved[(text, implicit)] = resolve(yaml.ScalarNode, text, implicit)
    return tag


def _anchor(event: Any, anchors: dict[str, _Anchor], stack: list[_Open]) -> _Anchor:
    """What an alias refers to (the anchor must be complete: an alias inside its own anchor nests without end)."""
    found = anchors.get(event.anchor)
    if found is not None:
        return found
    inside = next((o for o in stack if o.anchor == event.anchor), None)
    if inside is not None:
        raise _Refusal(inside.mark, f"document nests deeper than {MAX_DEPTH} levels")
    raise _undefined(event)


def _undefined(alias: Any) -> yaml.composer.ComposerError:
    """The composer's own error (a syntax error to the user), as PyYAML words it."""
    return yaml.composer.ComposerError(None, None, f"found undefined alias {alias.anchor!r}", alias.start_mark)


def _new_anchor(anchors: dict[str, _Anchor], stack: list[_Open], event: Any) -> None:
    name = event.anchor
    first = anchors[name].mark if name in anchors else next((o.mark for o in stack if o.anchor == name), None)
    if first is not None:
        raise yaml.composer.ComposerError(f"found duplicate anchor {name!r}; first occurrence", first,
                                          "second occurrence", event.start_mark)


def _alias(event: Any, anchors: dict[str, _Anchor], stack: list[_Open], marks: dict, path: Path_,
           budget: _Budget, log: list | None) -> tuple[Any, int]:
    """A copy of the anchor's value at `path`, and how many collection levels it nests."""
    found = _anchor(event, anchors, stack)
    budget.nodes += found.nodes - 1
    if budget.nodes > MAX_NODES:
        raise _Refusal(event.start_mark, f"document expands to more than {MAX_NODES} nodes",
                       hint="anchors/aliases that expand exponentially ('billion laughs') are refused")
    if len(stack) + found.height > MAX_DEPTH:
        raise _Refusal(found.mark, f"document nests deeper than {MAX_DEPTH} levels")
    for below, mark, is_key in found.marks:
        at = path + below
        if is_key:
            marks[at] = mark
        else:
            marks.setdefault(at, mark)
        if log is not None:
            log.append((at, mark, is_key))
    return _copy(found.value), found.height


def _copy(value: Any) -> Any:
    """An alias is a value of its own (as if written out), not the anchor's object."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def scalar_value(node: yaml.ScalarNode) -> Any:
    """The value of a scalar by the YAML 1.2 core schema (also for explicit tags such as !!int)."""
    return _scalar(node.tag, node.value, node.style, node.start_mark)


def _scalar(tag: str, text: str, style: str | None, mark: yaml.Mark) -> Any:
    try:
        return core_value(tag, text, style)
    except ScalarError as exc:
        raise _Refusal(mark, exc.message, hint=exc.hint) from None


def _warn_11(file: str, tag: str, text: str, style: str | None, mark: yaml.Mark, path: Path_,
             budget: _Budget) -> None:
    if style:  # quoted or block scalars read the same in every YAML version (plain: None, or "" from libyaml)
        return
    reading = differs_in_11(text, tag)
    if reading is None:
        return
    shown = repr(_scalar(tag, text, style, mark)) if tag != _T + "str" else f"the string {text!r}"
    budget.warnings.append(Problem(
        file, mark.line + 1, mark.column + 1, json_path(path),
        f"{text} is read as {shown} (YAML 1.2, as editors read it); a YAML 1.1 reader reads {reading}",
        hint="quote it to make every reader agree" if tag == _T + "str" else
        "write it so that both read the same (e.g. 0o17 for octal, a quoted string for text)",
        level=Level.WARNING))
