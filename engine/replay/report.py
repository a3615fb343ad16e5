"""A replay's diff for people and for machines: text, versioned JSON, and GitHub (a Markdown
summary for a pull-request comment, plus annotations on the rule lines whose behaviour
changed)."""
from __future__ import annotations

import difflib
import json
from dataclasses import asdict

from ..config.bundle import Bundle
from ..config.report import github_escape
from .diff import ReplayDiff

JSON_FORMAT, JSON_VERSION = "opsconductor-replay", 1
TITLES = {"counts": "What the engine did", "by_type": "Per alert type", "by_rule": "Per rule",
          "suppressed_under": "Suppressed under", "notifications": "Notifications (channel, kind)"}
NO_CHANGE = "No change: the candidate decides exactly as the baseline on this history."


def render(diff: ReplayDiff, fmt: str, *, bundle: Bundle | None = None, span: str = "", baseline: str = "",
           root: str = "") -> str:
    if fmt == "json":
        return render_json(diff, span=span, baseline=baseline)
    if fmt == "github":
        return render_github(diff, bundle, span=span, baseline=baseline, root=root)
    return render_text(diff, span=span, baseline=baseline)


def render_text(diff: ReplayDiff, *, span: str = "", baseline: str = "") -> str:
    b = diff.baseline
    lines = [f"Replayed {b['events']} events and {b['operator_actions']} operator actions{span} "
             f"against the baseline {baseline}".rstrip()]
    if b["failed_events"] or diff.candidate["failed_events"]:
        lines.append(f"events that failed to process: {b['failed_events']} → {diff.candidate['failed_events']}")
    if diff.no_change:
        lines.append(NO_CHANGE)
        return "\n".join(lines)
    for section, moved in diff.moved.items():
        if moved:
            lines.append(f"\n{TITLES[section]}:")
            lines += [f"  {key:<48} {before:>7} → {after:<7} ({after - before:+d})" for key, (before, after) in moved.items()]
    lines.append(f"\nAlerts whose decisions changed: {diff.changed_total}"
                 + (f" (the first {len(diff.changed)})" if diff.changed_total > len(diff.changed) else ""))
    for c in diff.changed:
        lines.append(f"\n  {c.title} [{c.key}]  notifications {c.pages_before} → {c.pages_after}")
        lines.append("    before:" + (_indent(c.before) if c.before is not None else " (no such alert)"))
        lines.append("    after: " + (_indent(c.after) if c.after is not None else " (no such alert)"))
    return "\n".join(lines)


def render_json(diff: ReplayDiff, *, span: str = "", baseline: str = "") -> str:
    doc = {"format": JSON_FORMAT, "version": JSON_VERSION, "span": span.strip(" ,"), "baseline": baseline,
           "no_change": diff.no_change, "baseline_run": diff.baseline, "candidate_run": diff.candidate,
           "moved": {s: {k: {"before": v[0], "after": v[1]} for k, v in m.items()} for s, m in diff.moved.items()},
           "changed_total": diff.changed_total, "changed": [asdict(c) for c in diff.changed]}
    return json.dumps(doc, indent=2, sort_keys=True)


def render_github(diff: ReplayDiff, bundle: Bundle | None, *, span: str = "", baseline: str = "", root: str = "") -> str:
    """Markdown for a pull-request comment, then `::notice` lines GitHub turns into
    annotations on the rules whose behaviour changed."""
    b = diff.baseline
    out = [f"### opsc replay: {b['events']} events{span}, baseline {baseline}".rstrip(), ""]
    if diff.no_change:
        out.append(NO_CHANGE)
        return "\n".join(out)
    for section, moved in diff.moved.items():
        if moved:
            out += [f"**{TITLES[section]}**", "", "| | before | after | change |", "|---|---:|---:|---:|"]
            out += [f"| {_md(key)} | {before} | {after} | {after - before:+d} |" for key, (before, after) in moved.items()]
            out.append("")
    out.append(f"**Alerts whose decisions changed: {diff.changed_total}**")
    for c in diff.changed[:20]:
        out += ["", f"<details><summary>{_md(c.title)}: notifications {c.pages_before} → {c.pages_after}</summary>", "",
                "```diff", *_unified(c.before, c.after), "```", "</details>"]
    out += ["", *_annotations(diff, bundle, root)]
    return "\n".join(out)


def _annotations(diff: ReplayDiff, bundle: Bundle | None, root: str) -> list[str]:
    """One notice per rule whose decisions changed: its counts that moved, and the alerts
    (among those shown) whose trail lines naming it differ."""
    if bundle is None:
        return []
    rules = {r.name: r for r in bundle.rules}
    notes: dict[str, list[str]] = {}
    for key, (before, after) in diff.moved.get("by_rule", {}).items():
        what, _, name = key.partition(":")
        if name in rules:
            notes.setdefault(name, []).append(f"{what} {before} → {after}")
    for c in diff.changed:
        old, new = set((c.before or "").splitlines()), set((c.after or "").splitlines())
        for line in old ^ new:
            if " by " not in line:
                continue
            name = line.rsplit(" by ", 1)[-1]
            if name in rules and f"decisions changed for {c.title}" not in notes.get(name, ()):
                notes.setdefault(name, []).append(f"decisions changed for {c.title}")
    lines = []
    for name, changes in sorted(notes.items()):
        src = rules[name].source
        path = f"{root.rstrip('/')}/{src.file}" if root and root not in (".", "./") else src.file
        lines.append(f"::notice file={github_escape(path, True)},line={src.line},"
                     f"title={github_escape(f'opsc replay: rule {name}', True)}::{github_escape('; '.join(changes))}")
    return lines


def _unified(before: str | None, after: str | None) -> list[str]:
    old = before.splitlines() if before else []
    new = after.splitlines() if after else []
    return [line for line in difflib.unified_diff(old, new, "before", "after", lineterm="", n=1)][2:] or ["(same)"]


def _indent(trail: str) -> str:
    return "".join("\n      " + line for line in trail.splitlines()) or " (nothing)"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")
