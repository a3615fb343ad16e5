"""Load a config tree: discover files → parse YAML → schema → build → semantic checks → Bundle.

The one loader behind `opsc validate`, `opsc test`, `opsc explain` and `opsc serve`.
Every problem is collected, so one run shows them all.
"""
from __future__ import annotations

import difflib
import hashlib
import logging
import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

from ..errors import ConfigError, Level, Problem
from .build import Builder
from .bundle import (DEFAULT_PRIORITY_MATRIX, Bundle, Channel, ConnectorConfig, Dependency, Device, OidMapping, Rule,
                     RuleTest, Silence, Source, Suppression)
from ..connectors import catalog
from .schema import CHANNEL_TYPES
from .schema import problems_from as _problems_from
from .semantic import check_bundle, resolve_dependencies
from .yamlfile import MAX_FILE_BYTES, YamlDocument, json_path, load_yaml
from .yamlsplice import Parsed, reparse, text_of

log = logging.getLogger("opsconductor.config")

# Folder → kind (DESIGN.md §2). rules/tests/ holds rule unit tests, never loaded as rules.
KIND_DIRS = {"connectors.d": "connector", "oidmaps": "oidmap", "dependencies.d": "dependency", "rules": "rule"}
TEST_DIR = ("rules", "tests")
KIND_HOME = {"connector": "connectors.d/", "oidmap": "oidmaps/", "dependency": "dependencies.d/",
             "rule": "rules/", "ruletest": "rules/tests/"}
_SIGNATURES = {  # top-level keys that identify a kind
    "connector": {"connectors", "type"},
    "oidmap": {"mappings"},
    "dependency": {"devices", "dependencies", "suppression"},
    "rule": {"rules", "channels", "silences", "priority_matrix"},
    "ruletest": {"tests"},
}


@dataclass(frozen=True)
class LoadResult:
    bundle: Bundle | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level is Level.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.level is Level.WARNING)

    @property
    def ok(self) -> bool:
        return self.bundle is not None and not self.errors


def discover(root: Path) -> list[tuple[str, str]]:
    """(relative path, kind) for every config file, in the order rules apply (sorted paths)."""
    found = []
    for folder, kind in KIND_DIRS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(root)
            if not path.is_file() or path.suffix not in (".yaml", ".yml"):
                continue
            if any(part.startswith(".") for part in rel.parts):
                continue  # editor temp files, .git
            k = "ruletest" if rel.parts[:2] == TEST_DIR else kind
            found.append((rel.as_posix(), k))
    return found


def git_commit(root: Path) -> str | None:
    """The commit of the checkout the tree is in, if any (no error when git is absent)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def tree_texts(bundle: Bundle) -> dict[str, str] | None:
    """The text of every file of `bundle`, read again; None when the files changed since it
    was loaded (the content hash no longer matches) or one is not UTF-8."""
    root, digest, texts = Path(bundle.root), hashlib.sha256(), {}
    try:
        for rel in bundle.files:
            raw = _read_bounded(root / rel)
            digest.update(_file_digest(rel, raw))
            texts[rel] = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return texts if digest.hexdigest() == bundle.content_hash else None


def _file_digest(rel: str, raw: bytes) -> bytes:
    """One file's part of a tree's content hash."""
    return rel.encode() + b"\0" + hashlib.sha256(raw).digest()


def content_hash(root: str | Path) -> str | None:
    """The content hash load_tree would give the tree now (None: a file cannot be read),
    without parsing anything: a reload of an unchanged tree stops here."""
    root, digest = Path(root), hashlib.sha256()
    try:
        for rel, _ in discover(root):
            digest.update(_file_digest(rel, _read_bounded(root / rel)))
    except OSError:
        return None
    return digest.hexdigest()


def load_tree(root: str | Path, environ: Any = None, with_git: bool = True, check_secrets: bool = False) -> LoadResult:
    """Load and check a tree. `check_secrets` also warns about secret references that do not
    resolve here (the server wants that; CI validating a pull request has no secrets).
    What the rules engine would refuse is the rules layer's check: rules.limits.validate_tree
    runs this and then that (`opsc validate`, `opsc test`, a reload)."""
    root = Path(root)
    env = os.environ if environ is None else environ
    if not root.is_dir():
        return LoadResult(None, (Problem(str(root), 0, 0, "$", "config directory does not exist"),))
    files = discover(root)
    if not files and not any((root / d).is_dir() for d in KIND_DIRS):
        return LoadResult(None, (Problem(str(root), 0, 0, "$",
                                         "no config found: expected connectors.d/, oidmaps/, dependencies.d/ or rules/",
                                         hint="pass --config DIR or set OPSC_CONFIG_DIR"),))
    digest = hashlib.sha256()
    problems: list[Problem] = []
    parts = _Parts()
    for rel, kind in files:
        try:
            raw = _read_bounded(root / rel)
        except OSError as exc:
            problems.append(Problem(rel, 0, 0, "$", f"cannot read the file: {exc.strerror or exc}"))
            continue
        digest.update(_file_digest(rel, raw))
        first_problem = len(problems)
        with located(problems, rel):
            doc, yaml_problems, _ = _cached_yaml(rel, raw)
            problems.extend(yaml_problems)
            if doc is not None:
                builder = Builder(doc, env, root, check_secrets)
                # Build into a scratch copy: a file that fails half-way contributes nothing.
                scratch = parts.scratch()
                file_problems = _load_document(doc, kind, builder, scratch)
                parts.docs[rel] = doc
                parts.absorb(scratch)
                problems.extend(file_problems)
                problems.extend(builder.problems)
        if any(p.level is Level.ERROR for p in problems[first_problem:]):
            parts.failed.add(kind)  # names this file would define are unknown: say nothing of them
    devices: list[Device] = []
    dependencies: list[Dependency] = []
    dep_problems: list[Problem] = []
    with located(problems, "dependencies.d/"):
        devices, dependencies, dep_problems = resolve_dependencies(parts.devices, parts.raw_dependencies,
                                                                   quiet_unknown="dependency" in parts.failed)
    problems.extend(dep_problems)
    bundle = Bundle(
        root=str(root), content_hash=digest.hexdigest(), git_commit=git_commit(root) if with_git else None,
        files=tuple(rel for rel, _ in files),
        connectors=tuple(parts.connectors), oid_mappings=tuple(parts.oid_mappings), devices=tuple(devices),
        dependencies=tuple(dependencies), channels=tuple(parts.channels), rules=tuple(parts.rules),
        silences=tuple(parts.silences), tests=tuple(parts.tests),
        priority_matrix=parts.priority_matrix or DEFAULT_PRIORITY_MATRIX, suppression=parts.suppression or Suppression())
    with located(problems, "rules/"):
        problems.extend(check_bundle(bundle, parts))
    errors = [p for p in problems if p.level is Level.ERROR]
    return LoadResult(None if errors else bundle, tuple(sorted(set(problems))))


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, never more than one byte past the size limit (which load_yaml refuses)."""
    with open(path, "rb") as fh:
        return fh.read(MAX_FILE_BYTES + 1)


@contextmanager
def located(problems: list[Problem], file: str) -> Iterator[None]:
    """Any exception while loading `file` becomes a problem located there: one bad file
    never crashes validate or a reload (the fuzzer in bench/faults_config.py looks for these)."""
    try:
        yield
    except RecursionError:
        problems.append(Problem(file, 1, 1, "$", "the file nests too deeply to be read",
                                hint="flatten the structure"))
    except MemoryError:
        problems.append(Problem(file, 1, 1, "$", "the file is too large to be read"))
    except Exception as exc:  # the net under every check; specific cases have their own messages
        log.debug("loading %s failed", file, exc_info=True)
        problems.append(Problem(file, 1, 1, "$", f"the loader failed on this file: {type(exc).__name__}: "
                                f"{str(exc)[:200]}",
                                hint="this is a bug in OpsConductor; please report it with the file"))


def load_bundle(root: str | Path, environ: Any = None, check_secrets: bool = False) -> Bundle:
    """Like load_tree, but raises ConfigError when the tree has errors."""
    result = load_tree(root, environ, check_secrets=check_secrets)
    if result.bundle is None:
        raise ConfigError(list(result.errors))
    return result.bundle


# Reloads re-read the whole tree; files whose bytes did not change skip YAML parsing and
# schema validation (both pure functions of the bytes), and a file edited inside one list
# item (one rule) has only that item parsed again (yamlsplice.py). One entry per file path,
# the version last read: an edited file replaces its entry, so memory does not grow with
# every edit.
_yaml_cache: dict[str, tuple[bytes, YamlDocument | None, list[Problem], Parsed | None]] = {}
# (path, id(document), kind, prefix) → problems; (path, id(document), "built:<kind>") → what _built built
_schema_cache: dict[tuple, Any] = {}


def _cached_yaml(rel: str, raw: bytes) -> tuple[YamlDocument | None, list[Problem], Parsed | None]:
    digest = hashlib.sha256(raw).digest()
    hit = _yaml_cache.get(rel)
    if hit is None or hit[0] != digest:
        if hit is not None:  # the file changed: its schema results go with its old document
            for key in [k for k in _schema_cache if k[0] == rel]:
                del _schema_cache[key]
        spliced = reparse(hit[3], raw) if hit is not None and hit[3] is not None else None
        doc, problems = spliced if spliced is not None else load_yaml(rel, raw)
        text = text_of(raw) if doc is not None else None
        parsed = Parsed(text, doc, tuple(problems)) if doc is not None and text is not None else None
        hit = _yaml_cache[rel] = (digest, doc, problems, parsed)
    return hit[1], hit[2], hit[3]


def _clear_caches() -> None:
    _yaml_cache.clear()
    _schema_cache.clear()
    _rules_cache.clear()


# path → (the rules' items, the order of the first, the Rules built from them), as last built.
# A rule is a pure function of its item, where it is written and its order; an item the
# splice kept (yamlsplice.py: the previous document's own object) at the same place and
# order is the same Rule, built once (a Rule is ~13 µs of a reload per rule).
_rules_cache: dict[str, tuple[list, int, tuple[Rule, ...]]] = {}


def _rules(doc: YamlDocument, builder: Builder, first_order: int) -> tuple[Rule, ...]:
    items = doc.data.get("rules") or ()
    before = _rules_cache.get(doc.file)
    old_items, _, old_rules = before if before is not None and before[1] == first_order else ([], 0, ())
    rules = []
    for i, item in enumerate(items):
        if i < len(old_items) and old_items[i] is item:
            mark, old = doc.mark(("rules", i)), old_rules[i]
            if mark.line == old.source.line and mark.col == old.source.col:
                rules.append(old)
                continue
        rules.append(builder.rule(item, i, first_order + i))
    built = tuple(rules)
    _rules_cache[doc.file] = (list(items), first_order, built)
    return built


def _built(doc: YamlDocument, kind: str, build: Callable[[], Any]) -> Any:
    """What an unchanged OID map or dependency file builds (frozen dataclasses, no secrets,
    nothing from the environment), built once: a reload that edits rules reuses them."""
    key = (doc.file, id(doc), f"built:{kind}")
    hit = _schema_cache.get(key)
    if hit is None:
        hit = _schema_cache[key] = build()
    return hit


def problems_from(doc: YamlDocument, kind: str, instance: Any, prefix: tuple = ()) -> list[Problem]:
    # id(doc) is stable: cached documents stay alive in _yaml_cache, and both caches are
    # cleared together.
    key = (doc.file, id(doc), kind, prefix)
    hit = _schema_cache.get(key)
    if hit is None:
        hit = _schema_cache[key] = _problems_from(doc, kind, instance, prefix)
    return hit


class _Parts:
    """What the documents contributed, before cross-file checks."""

    def __init__(self) -> None:
        self.connectors: list[ConnectorConfig] = []
        self.oid_mappings: list[OidMapping] = []
        self.devices: list[Device] = []
        self.raw_dependencies: list = []
        self.channels: list[Channel] = []
        self.rules: list[Rule] = []
        self.silences: list[Silence] = []
        self.tests: list[RuleTest] = []
        self.priority_matrix: Mapping[str, Any] | None = None
        self.priority_matrix_sources: list = []
        self.suppression: Suppression | None = None
        self.suppression_sources: list = []
        self.docs: dict[str, YamlDocument] = {}
        # Kinds with a file that did not load: a reference to a name such a file would have
        # defined is not reported (one mistake, one error), the tree is refused anyway.
        self.failed: set[str] = set()

    def scratch(self) -> "_Parts":
        """An empty _Parts sharing what later documents read (rule order, the priority matrix)."""
        out = _Parts()
        out.rules = list(self.rules)
        out.priority_matrix = self.priority_matrix
        out.docs = self.docs
        return out

    def absorb(self, other: "_Parts") -> None:
        self.connectors += other.connectors
        self.oid_mappings += other.oid_mappings
        self.devices += other.devices
        self.raw_dependencies += other.raw_dependencies
        self.channels += other.channels
        self.rules = other.rules
        self.silences += other.silences
        self.tests += other.tests
        self.priority_matrix = other.priority_matrix
        self.priority_matrix_sources += other.priority_matrix_sources
        self.suppression = other.suppression or self.suppression
        self.suppression_sources += other.suppression_sources

    def locate(self, src: Source, *sub) -> Source:
        """The Source of a node below `src` (e.g. one list item of a rule), for precise errors."""
        doc = self.docs.get(src.file)
        if doc is None:
            return src
        keys = (*src.keys, *sub)
        m = doc.mark(keys)
        return Source(src.file, m.line, m.col, json_path(keys), keys)


def _looks_like(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    keys = set(data)
    scores = {kind: len(keys & sig) for kind, sig in _SIGNATURES.items()}
    best = max(scores, key=lambda kind: scores[kind])
    return best if scores[best] else None


def _load_document(doc: YamlDocument, kind: str, builder: Builder, parts: _Parts) -> list[Problem]:
    data = doc.data
    if not isinstance(data, dict):
        return [Problem(doc.file, 1, 1, "$", f"expected a mapping at the top of a {kind} file, got {type(data).__name__}",
                        hint=f"see `opsc schema {kind}` for the shape")]
    seems = _looks_like(data)
    if seems and seems != kind and not (_SIGNATURES[kind] & set(data)):
        return [Problem(doc.file, 1, 1, "$", f"this looks like a {seems} file, but it is in {KIND_HOME[kind]}",
                        hint=f"{seems} files go in {KIND_HOME[seems]}")]
    if kind == "connector":
        return _load_connectors(doc, builder, parts)
    if kind == "rule":
        return _load_rules(doc, builder, parts)
    problems = problems_from(doc, kind, data)
    if problems:
        return problems
    if kind == "oidmap":
        parts.oid_mappings.extend(_built(doc, kind, lambda: tuple(builder.oid_mappings(data))))
    elif kind == "dependency":
        devices, dependencies = _built(doc, kind, lambda: (tuple(builder.devices(data)),
                                                           tuple(builder.raw_dependencies(data))))
        parts.devices.extend(devices)
        parts.raw_dependencies.extend((doc, *dep) for dep in dependencies)
        if "suppression" in data:
            parts.suppression_sources.append(builder.source(("suppression",)))
            parts.suppression = parts.suppression or builder.suppression(data["suppression"])
    elif kind == "ruletest":
        parts.tests.extend(builder.tests(data))
    return []


def _typed(doc: YamlDocument, item: Any, path: tuple, family: str, types: tuple[str, ...]) -> tuple[str | None, list[Problem]]:
    """Check the `type` of a connector or channel before its type's schema applies."""
    mark = doc.mark(path)
    if not isinstance(item, dict):
        return None, [Problem(doc.file, mark.line, mark.col, json_path(path), f"expected a mapping (one {family})")]
    t = item.get("type")
    if t is None:
        return None, [Problem(doc.file, mark.line, mark.col, json_path(path), "missing required key 'type'",
                              hint=f"{family} types: {', '.join(types)}")]
    if t not in types:
        m = doc.mark((*path, "type"))
        guess = difflib.get_close_matches(str(t), types, n=1)
        return None, [Problem(doc.file, m.line, m.col, json_path((*path, "type")), f"unknown {family} type {t!r}",
                              hint=f"did you mean {guess[0]!r}?" if guess else f"{family} types: {', '.join(types)}")]
    return t, []


def _load_connectors(doc: YamlDocument, builder: Builder, parts: _Parts) -> list[Problem]:
    data = doc.data
    problems: list[Problem] = []
    if "connectors" in data:
        for key in (k for k in data if k != "connectors"):  # every one, and the list is still checked
            m = doc.key_mark((key,))
            problems.append(Problem(doc.file, m.line, m.col, json_path((key,)),
                                    f"unknown key {key!r} next to a connectors: list",
                                    hint="a connector file holds one connector, or only a `connectors:` list"))
        if not isinstance(data["connectors"], list):
            m = doc.mark(("connectors",))
            return [*problems, Problem(doc.file, m.line, m.col, "$.connectors", "expected a list of connectors")]
        items: list[tuple[tuple[str | int, ...], Any]] = [(("connectors", i), c) for i, c in enumerate(data["connectors"])]
    else:
        items = [((), data)]
    for path, item in items:
        ctype, type_problems = _typed(doc, item, path, "connector", catalog.names())
        problems.extend(type_problems)
        if ctype is None:
            continue
        item_problems = problems_from(doc, f"connector.{ctype}", item, path)
        problems.extend(item_problems)
        if not problems:
            parts.connectors.append(builder.connector(item, path))
    return problems


def _load_rules(doc: YamlDocument, builder: Builder, parts: _Parts) -> list[Problem]:
    data = doc.data
    problems = problems_from(doc, "rule", data)
    channel_problems: list[Problem] = []
    for i, ch in enumerate(data.get("channels", ()) if isinstance(data.get("channels"), list) else ()):
        ctype, type_problems = _typed(doc, ch, ("channels", i), "channel", CHANNEL_TYPES)
        channel_problems.extend(type_problems)
        if ctype:
            channel_problems.extend(problems_from(doc, f"channel.{ctype}", ch, ("channels", i)))
    # The rule schema only checks a channel's name and type; keep its own problems for the rest.
    problems = [p for p in problems if not p.path.startswith("$.channels[")] + channel_problems
    if problems:
        return problems
    parts.channels.extend(builder.channels(data))
    parts.rules.extend(_rules(doc, builder, first_order=len(parts.rules)))
    parts.silences.extend(builder.silences(data))
    if "priority_matrix" in data:
        parts.priority_matrix_sources.append(builder.source(("priority_matrix",)))
        matrix = {impact: MappingProxyType(dict(row)) for impact, row in data["priority_matrix"].items()}
        merged = {k: MappingProxyType({**v, **matrix.get(k, {})}) for k, v in DEFAULT_PRIORITY_MATRIX.items()}
        parts.priority_matrix = MappingProxyType(merged)
    return []
