"""Problems as text (people), JSON (tools) or GitHub Actions annotations (CI)."""
from __future__ import annotations

import json
from typing import Iterable

from ..errors import Level, Problem

FORMATS = ("text", "json", "github")
# Bumped when a key of the JSON output changes meaning or goes away (new keys do not bump it).
JSON_FORMAT_VERSION = 1


def render(problems: Iterable[Problem], fmt: str, root: str = "", summary: str = "") -> str:
    problems = list(problems)
    if fmt == "json":
        return json.dumps({
            "format_version": JSON_FORMAT_VERSION,
            "ok": not any(p.level is Level.ERROR for p in problems),
            "summary": summary,
            "problems": [{"file": p.file, "line": p.line, "col": p.col, "path": p.path, "message": p.message,
                          "hint": p.hint, "level": p.level.value} for p in problems],
        }, indent=2)
    if fmt == "github":
        return "\n".join(_github(p, root) for p in problems)
    lines = [p.format() for p in problems]
    if summary:
        lines.append(summary)
    return "\n".join(lines)


def github_escape(text: str, prop: bool = False) -> str:
    # https://docs.github.com/actions/reference/workflow-commands-for-github-actions
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _github(p: Problem, root: str) -> str:
    command = "error" if p.level is Level.ERROR else "warning"
    path = f"{root.rstrip('/')}/{p.file}" if root and root not in (".", "./") else p.file
    message = f"{p.path}: {p.message}" + (f"\nHint: {p.hint}" if p.hint else "")
    props = f"file={github_escape(path, True)},line={max(p.line, 1)},col={max(p.col, 1)},title={github_escape('opsc validate', True)}"
    return f"::{command} {props}::{github_escape(message)}"
