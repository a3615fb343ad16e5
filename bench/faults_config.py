"""Fault suite, config section: fuzzed config trees through the real loader.

Every tree is a few files of the default tree (and of the bad-input fixtures), one of them
mutated: bytes flipped, lines dropped or doubled, scalars replaced by hostile values
(deep nesting, 5,000-digit numbers, bad dates, `${file:/dev/zero}`, binary secret files,
NUL and lone surrogates, unknown tags, alias tricks), keys dropped or added. Each tree must
be accepted, or refused with located problems (file, line, JSON path) that render in
every output format. Anything else (an exception, an unlocated problem) is a crash; the
crashing trees are written to --keep DIR so they can become fixtures.

    .venv/bin/python bench/faults_config.py [--trees 10000] [--seed 16] [--keep DIR] [--json]

Prints: trees, accepted, refused, crashes (goal: 0 crashes). Tree i is a pure function of
(seed, i), so a crash is reproducible with --only i. Runs in one process with its memory
capped (RLIMIT_AS), so a loader that reads /dev/zero fails here instead of on a server.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIND_DIRS = ("connectors.d", "oidmaps", "dependencies.d", "rules")
MEMORY_CAP = 3 * 1024 ** 3
NET = "the loader failed on this file: "  # engine/config/loader.py _located()
FIXTURE_MARK = "fixture:"  # corpus paths from tests/config/fixtures (a tree never holds them all)

# Hostile scalars, as YAML text (injected in place of a value).
HOSTILE = [
    "[" * 70 + "]" * 70, "[" * 5000 + "]" * 5000, "{a: " * 3000 + "1" + "}" * 3000,
    "9" * 5000, "-" + "9" * 4400, "0x" + "f" * 4000, "1" * 99 + ".5e99999", "1e309", ".nan", "-.inf",
    "2026-13-45", "2026-02-30T25:61:61Z", "2026-12-01", "2026-12-01 22:00:00 +01:00", "!!timestamp 2026-13-45",
    "'${file:/dev/zero}'", "'${file:/dev/urandom}'", "'${file:/bin/sh}'", "'${file:}'", "'${file:/nonexistent/x}'",
    "'${file:/proc/self/status}'", "'${file:/}'", "'${file:.}'", "'${env:}'", "'${env:PATH}'", "'${env:A:-}'",
    "'${env:1BAD}'", "'${env:X:-${env:Y}}'", "${file:/etc/hostname}",
    "~", "''", "null", "true", "NO", "on", "18:30", "0755", "0o777", "1_000", "190:20:30", "-1", "0", "1.5",
    "'" + "x" * 70000 + "'", '"\\x00"', '"a\\0b"', '"\\ud800"', '"\\U0010FFFF"', '"\\u202e"', '"\\t\\n"',
    "!!binary aGk=", "!!python/object:os.system ls", "!!set {a}", "!!omap [a: 1]", "!!int x", "!!float y",
    "!!bool maybe", "!!null x", "!custom v", "!!str 12", "*undefined", "&a [*a]", "&b {x: *b}",
    "{}", "[]", "[[]]", "{a: {b: {c: {}}}}", "[1, 'a', null, {x: [true]}]", "? [a, b]\n  : c",
    "|\n  multi\n  line", ">-\n  folded", "'a: b'", "- x", "@at", "`tick`", "%percent", "&anchor value",
    "'*.*'", "'(unclosed'", "'[a-'", "'{{ undefined_field }}'", "'{% for x in y %}'", "'{{ 1/0 }}'",
    "'1.3.6.1.4.1.*.2'", "'1..3'", "'999.999.999.999'", "'10.0.0.0/33'", "'::1'", "'0.0.0.0:99999'",
    "'[::1]:162'", "'Europe/Nowhere'", "'../../etc/passwd'", "'60'", "60", "'0s'", "'-5m'", "'99999999999d'",
    "'majr'", "'critical'", "{gte: majr}", "{gte: [major]}", "{regex: '('}", "{cidr: '10.0.0.0/8'}",
]
SNIPPETS = [
    "<<: *a", "--- ", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "\t- tab", "key: value: other",
    "? complex", "&a x: 1", "*a: 1", "- [unclosed", "{unclosed: 1", "'unterminated", "\"bad \\q escape\"",
    "x: \x07", "x: \x1b[31m", "\ufeffbom: 1", "dup: 1\ndup: 2", "a: &a [1, *a]",
]
KEYS = ["name", "type", "enabled", "rules", "match", "notify", "channels", "mappings", "oid", "severity",
        "devices", "dependencies", "depends_on", "url", "api_token", "listen", "communities", "tests",
        "events", "expect", "silences", "starts_at", "ends_at", "time", "start", "end", "priority_matrix",
        "poll_interval", "throttle", "correlate", "window", "count", "set", "suppress", "template", "x", "",
        "<<", "é", "1", "null", "true"]


@dataclass
class Figures:
    trees: int = 0
    accepted: int = 0
    refused: int = 0
    crashes: int = 0
    unlocated: int = 0
    crash_kinds: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)  # (tree index, what went wrong)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"trees": self.trees, "accepted": self.accepted, "refused": self.refused, "crashes": self.crashes,
                "unlocated": self.unlocated, "crash_kinds": dict(self.crash_kinds),
                "examples": self.examples[:20], "seconds": round(self.seconds, 1)}


def corpus() -> list[tuple[str, bytes]]:
    """(relative path, bytes) of the default tree and of the fixture trees' files."""
    out = []
    bases = [ROOT, *sorted(p for p in (ROOT / "tests" / "config" / "fixtures").iterdir() if p.is_dir())]
    for base in bases:
        for folder in KIND_DIRS:
            for path in sorted((base / folder).rglob("*.y*ml")) if (base / folder).is_dir() else ():
                mark = "" if base == ROOT else FIXTURE_MARK
                out.append((mark + path.relative_to(base).as_posix(), path.read_bytes()))
    return out


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _mutate_value(rng: random.Random, text: str) -> str:
    """Replace the value after a `key:` or a `- ` on a random line by a hostile scalar."""
    lines = _lines(text)
    candidates = [i for i, ln in enumerate(lines) if ": " in ln or ln.strip().startswith("- ") or ln.rstrip().endswith(":")]
    if not candidates:
        return text + "\n" + rng.choice(HOSTILE)
    i = rng.choice(candidates)
    ln = lines[i]
    value = rng.choice(HOSTILE)
    if ": " in ln:
        head = ln.split(": ", 1)[0]
        lines[i] = f"{head}: {value}"
    elif ln.rstrip().endswith(":"):
        indent = len(ln) - len(ln.lstrip()) + 2
        lines[i] = f"{ln.rstrip()} {value}" if rng.random() < 0.5 else ln
        if lines[i] == ln:
            lines.insert(i + 1, " " * indent + value.replace("\n", "\n" + " " * indent))
    else:
        lines[i] = ln[: len(ln) - len(ln.lstrip())] + "- " + value
    return "\n".join(lines)


def _mutate_key(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    keyed = [i for i, ln in enumerate(lines) if ":" in ln and not ln.lstrip().startswith("#")]
    if not keyed:
        return text
    i = rng.choice(keyed)
    ln = lines[i]
    indent = ln[: len(ln) - len(ln.lstrip())]
    choice = rng.random()
    if choice < 0.4:  # drop the line (a required key goes missing)
        del lines[i]
    elif choice < 0.7:  # rename the key
        lines[i] = indent + ln.lstrip().replace(ln.lstrip().split(":", 1)[0].lstrip("- "), rng.choice(KEYS), 1)
    else:  # add a sibling
        lines.insert(i + 1, indent + ("  " if ln.lstrip().startswith("- ") else "") + f"{rng.choice(KEYS)}: {rng.choice(HOSTILE)}")
    return "\n".join(lines)


def _mutate_text(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    choice = rng.random()
    if not data:
        return bytes(rng.getrandbits(8) for _ in range(16))
    if choice < 0.25:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
    elif choice < 0.45:
        lines = bytes(data).split(b"\n")
        i = rng.randrange(len(lines))
        if rng.random() < 0.5:
            del lines[i]
        else:
            lines.insert(i, lines[i])
        data = bytearray(b"\n".join(lines))
    elif choice < 0.6:
        data = data[: rng.randrange(len(data))]
    elif choice < 0.8:
        lines = bytes(data).split(b"\n")
        i = rng.randrange(len(lines))
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        lines.insert(i, indent + rng.choice(SNIPPETS).encode())
        data = bytearray(b"\n".join(lines))
    else:  # shift a line's indentation
        lines = bytes(data).split(b"\n")
        i = rng.randrange(len(lines))
        lines[i] = (b" " * rng.choice((1, 2, 3, 4)) + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
        data = bytearray(b"\n".join(lines))
    return bytes(data)


def make_tree(seed: int, index: int, files: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Tree `index`: 1-3 corpus files (distinct paths), one of them mutated 1-3 times."""
    rng = random.Random(f"{seed}:{index}")
    picked: dict[str, bytes] = {}
    if rng.random() < 0.5:  # the whole default tree: mutations reach the cross-file checks
        picked.update((rel, raw) for rel, raw in files if not rel.startswith(FIXTURE_MARK))
    else:
        for rel, raw in rng.sample(files, k=rng.randint(1, 3)):
            picked.setdefault(rel.removeprefix(FIXTURE_MARK), raw)
    target = rng.choice(sorted(picked))
    raw = picked[target]
    for _ in range(rng.choice((1, 1, 2, 3))):
        r = rng.random()
        if r < 0.45:
            raw = _mutate_value(rng, raw.decode("utf-8", "replace")).encode("utf-8", "surrogatepass")
        elif r < 0.7:
            raw = _mutate_key(rng, raw.decode("utf-8", "replace")).encode("utf-8", "surrogatepass")
        else:
            raw = _mutate_text(rng, raw)
    picked[target] = raw
    return picked


def _located(problem, files: dict[str, bytes]) -> bool:
    return bool(problem.file) and problem.path.startswith("$") and problem.line >= 0 and problem.col >= 0 \
        and (problem.file in files or problem.file.endswith("/") or problem.line == 0)


def check_tree(tree_dir: Path, files: dict[str, bytes]) -> tuple[str, str | None]:
    """('accepted' | 'refused' | 'crash', what crashed)."""
    from opsconductor.engine.config.loader import load_tree
    from opsconductor.engine.config.report import FORMATS, render

    if tree_dir.exists():
        shutil.rmtree(tree_dir)
    for rel, raw in files.items():
        (tree_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree_dir / rel).write_bytes(raw)
    try:
        result = load_tree(tree_dir, environ={"A": "1", "PATH": "/usr/bin"}, with_git=False, check_secrets=True)
        for fmt in FORMATS:
            render(result.problems, fmt, summary="x").encode("utf-8")
        for p in result.problems:
            p.format().encode("utf-8")
    except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return "crash", f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}: {str(exc)[:120]}"
    bad = [p for p in result.problems if not _located(p, files)]
    if bad:
        return "unlocated", bad[0].format()[:200]
    caught = [p for p in result.problems if p.message.startswith(NET)]
    if caught:  # located, but only by the loader's safety net: a crash all the same
        return "crash", caught[0].message.removeprefix(NET)[:200]
    return ("accepted" if result.bundle is not None else "refused"), None


def run(trees: int = 10_000, seed: int = 16, keep: Path | None = None, only: int | None = None) -> Figures:
    files = corpus()
    figures = Figures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opsc-fuzz-") as tmp:
        indexes = [only] if only is not None else range(trees)
        for index in indexes:
            tree = make_tree(seed, index, files)
            outcome, what = check_tree(Path(tmp) / "tree", tree)
            figures.trees += 1
            if outcome == "accepted":
                figures.accepted += 1
            elif outcome == "refused":
                figures.refused += 1
            else:
                figures.crashes += 1
                figures.unlocated += outcome == "unlocated"
                figures.crash_kinds[what.split(":")[0] if outcome == "crash" else "unlocated problem"] += 1
                figures.examples.append((index, what))
                if keep is not None:
                    dest = keep / f"tree-{seed}-{index}"
                    for rel, raw in tree.items():
                        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                        (dest / rel).write_bytes(raw)
                    (dest / "crash.txt").write_text(what + "\n", encoding="utf-8", errors="backslashreplace")
    figures.seconds = time.monotonic() - started
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep", type=Path, help="write crashing trees under this directory")
    parser.add_argument("--only", type=int, help="run tree number ONLY alone (reproduce a crash)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MEMORY_CAP:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, hard))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    figures = run(args.trees, args.seed, args.keep, args.only)
    if args.json:
        print(json.dumps(figures.as_dict()))
    else:
        print(f"config fuzz: {figures.trees} trees, {figures.accepted} accepted, {figures.refused} refused, "
              f"{figures.crashes} crashes ({figures.unlocated} with unlocated problems) "
              f"in {figures.seconds:.0f} s (seed {args.seed})")
        for kind, n in figures.crash_kinds.most_common():
            print(f"  {n:6d}  {kind}")
        for index, what in figures.examples[:10]:
            print(f"  tree {index}: {what}")
    return 1 if figures.crashes else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
