"""A file read again after an edit inside one item of a top-level list: only that item is parsed.

A reload after one rule was edited in a file of 1,000 would otherwise parse all 1,000
(~45 ms of a ~200 ms reload). The previous text and its document are known; the lines
that differ (common prefix and suffix of lines taken away) lie inside one item of a
block sequence under a top-level key (`rules:`, `mappings:`, `channels:`, ...). That
item's lines are parsed alone, with the same parser, and put in place of the old item;
every other item is the previous document's own object (so later stages can recognise
what did not change), and marks after it move by the lines the edit added or removed.

It answers only when the item's lines parsed alone read exactly as they do in the file,
else None and the caller parses the whole file (which also gives any error its place):
- the previous document defines no anchor, nor does the new item (an alias reaches across items);
- the text has no line break but `\\n` (YAML also breaks lines at CR, NEL, LS, PS);
- the item begins with its dash at the sequence's indent, no line of it is indented less
  (blank and comment lines aside) and every line at that indent starts another item:
  nothing in it can close the sequence or reach into the lines before or after it;
- alone, it parses with no error to exactly one item (flow collections and quoted text
  that stay open to the end of the item are errors alone, so they fall back too).
tests/config/test_yamlsplice.py checks the result against a whole parse over many edits.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import Level, Problem
from .yamlfile import Mark, YamlDocument, json_path, load_yaml

_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")


@dataclasses.dataclass(frozen=True)
class Parsed:
    """One file as last read: its text (after a BOM) and what it read as."""

    text: str
    doc: YamlDocument
    problems: tuple[Problem, ...]  # warnings only: a document with errors is not kept as one


def text_of(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text[1:] if text.startswith("\ufeff") else text


def reparse(before: Parsed, raw: bytes) -> tuple[YamlDocument, list[Problem]] | None:
    """The document of `raw` read by parsing only the edited list item, or None (parse it all)."""
    text = text_of(raw)
    doc = before.doc
    if text is None or doc.anchored or not isinstance(doc.data, dict) or any(b in text for b in _OTHER_BREAKS):
        return None
    old, new = before.text.splitlines(keepends=True), text.splitlines(keepends=True)
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    if start == len(old) == len(new):
        return None  # same lines (the bytes differed in a BOM): nothing to gain
    tail = 0
    while tail < limit - start and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    found = _item_at(doc, old, start, len(old) - tail)
    if found is None:
        return None
    key, index, first, end, indent = found
    delta = len(new) - len(old)
    lines = new[first:end + delta]
    if not _stays_inside(lines, indent):
        return None
    item, problems = load_yaml(doc.file, "".join(lines).encode())
    if item is None or item.anchored or not isinstance(item.data, list) or len(item.data) != 1 \
            or any(p.level is Level.ERROR for p in problems):
        return None
    data = dict(doc.data)
    data[key] = items = list(data[key])
    items[index] = item.data[0]
    marks = _marks(doc, (key, index), first, end, delta, item)
    here = json_path((key, index))  # the item's warnings were located as "$[0]..." in its lines alone
    warnings = [dataclasses.replace(p, line=p.line + first, path=here + p.path[len("$[0]"):]) for p in problems]
    kept = [p if p.line <= end else dataclasses.replace(p, line=p.line + delta)
            for p in before.problems if not first < p.line <= end]
    return YamlDocument(doc.file, data, marks), sorted(kept + warnings)


def _item_at(doc: YamlDocument, lines: list[str], start: int, stop: int) -> tuple[Any, int, int, int, int] | None:
    """(key, index, first line, end line, indent) of the item of a top-level block sequence whose
    lines [first, end) (0-based) hold the changed lines [start, stop), or None."""
    keys = list(doc.data)
    key_lines = [doc.marks[(k, "<key>")].line - 1 for k in keys]
    owner = max((i for i, line in enumerate(key_lines) if line <= start), default=None)
    if owner is None:
        return None
    key = keys[owner]
    items = doc.data[key]
    if not isinstance(items, list) or not items:
        return None
    section_end = key_lines[owner + 1] if owner + 1 < len(keys) else len(lines)
    seq = doc.marks[(key,)]
    indent = seq.col - 1
    dash_line = lines[seq.line - 1]
    if dash_line[:indent].strip(" ") or not _is_dash(dash_line, indent):
        return None  # a flow sequence, or a dash after other text
    dashes: list[int] = []
    for i in range(len(items)):
        line = doc.mark((key, i)).line - 1
        while line >= 0 and not _is_dash(lines[line], indent):
            line -= 1
        if dashes and line <= dashes[-1]:
            return None  # two items on one line (an empty one): lines do not tell them apart
        dashes.append(line)
    index = max((i for i, line in enumerate(dashes) if line <= start), default=None)
    if index is None:
        return None
    if stop == start == dashes[index] and index > 0:
        index -= 1  # lines added between two items: at the end of the first (a new item is a dash line)
    end = dashes[index + 1] if index + 1 < len(dashes) else section_end
    if stop > end:
        return None
    return key, index, dashes[index], end, indent


def _is_dash(line: str, indent: int) -> bool:
    """A line that starts a sequence item at `indent`: spaces, then '-' and a space or the line's end."""
    return len(line) > indent and line[indent] == "-" and not line[:indent].strip(" ") \
        and line[indent + 1:indent + 2] in (" ", "\n", "")


def _stays_inside(lines: list[str], indent: int) -> bool:
    if not lines or not _is_dash(lines[0], indent):
        return False
    for line in lines:
        body = line.lstrip(" ")
        if not body.strip() or body.startswith("#"):
            continue  # blank or a comment (inside a block scalar: text, more indented, read alike)
        depth = len(line) - len(body)
        if body.startswith("\t") or depth < indent or (depth == indent and not _is_dash(line, indent)):
            return False
    return True


def _marks(doc: YamlDocument, at: tuple, first: int, end: int, delta: int, item: YamlDocument) -> dict:
    """The previous marks without the old item's, lines after it moved by `delta`, and the new item's."""
    if delta:
        marks = {path: (mark if mark.line <= end else Mark(mark.line + delta, mark.col))
                 for path, mark in doc.marks.items() if path[:2] != at}
    else:
        marks = dict(doc.marks)
        for path in _paths(doc.data[at[0]][at[1]], at):
            marks.pop(path, None)
    for path, mark in item.marks.items():
        if path and path[0] == 0:
            marks[(*at, *path[1:])] = Mark(mark.line + first, mark.col)
    return marks


def _paths(value: Any, path: tuple):
    """Every path the composer marks in `value` (values, and mapping keys as (*path, key, "<key>"))."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*path, k, "<key>")
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))
