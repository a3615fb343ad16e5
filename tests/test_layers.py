"""The layers are checked, not hoped for (docs/engine.md#layout holds the map this test reads).

Every `import` of our own code counts, at module level and inside functions alike: an
import hidden in a function is still a dependency, it only fails later. An import under
`if TYPE_CHECKING:` counts for the layers and for cycles between packages (a type is a
dependency too) and is exempt only from the module cycle check (it never runs, so it
cannot make a partly initialised module).

Fails, naming the import (file:line), on:
- an import of a higher layer (`pipeline` importing `store`);
- a cycle between units (an engine subpackage or top-level module; web counts as one);
- a cycle between modules (web/auth → web/errors → web/render → web/auth);
- an engine module the layer map does not place;
- web importing an engine module outside the engine's public API for web.
"""
from __future__ import annotations

import ast
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"opsconductor.engine": ROOT / "engine", "opsconductor.web": ROOT / "web"}
LAYOUT_DOC = ROOT / "docs" / "engine.md"


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module of ours
    file: str  # relative to the checkout
    line: int
    type_only: bool

    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.source} imports {self.target}"


def module_files() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


MODULES = module_files()
MISSING: list[str] = []


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, source: str | None = None, missing: list[str] | None = None) -> list[Import]:
    """Every import of our own modules in `module`; imports of ours that name no module go to `missing`."""
    missing = MISSING if missing is None else missing
    rel = str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source, rel)
    out: list[Import] = []

    def add(target: str, node: ast.stmt, type_only: bool) -> None:
        # `import a.b.c` loads a.b.c; name the deepest module of ours it reaches.
        if target.startswith(tuple(f"{p}." for p in PACKAGES)) and target not in MODULES:
            missing.append(f"{rel}:{node.lineno}: {module} imports {target}, which does not exist")
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        found = Import(module, target, rel, node.lineno, type_only)
        if target and target != module and target not in PACKAGES and found not in out:
            out.append(found)

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, type_only)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path.name == "__init__.py", node)
            for alias in node.names:
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base, node, type_only)
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return out


IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def _doc_section(title: str) -> str:
    text = LAYOUT_DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", text, flags=re.M | re.S)
    assert match, f"docs/engine.md has no '## {title}' section"
    return match.group(1)


def layer_map() -> tuple[dict[str, int], list[str]]:
    """unit → rank (higher may import lower), from the layer table of docs/engine.md#layout. A
    unit is written as a path under engine/: `config/` (a package), `model` (a module), or a
    pattern (`connectors/*/__init__`: each connector folder's declaration)."""
    ranks, names = {}, []
    for row in re.findall(r"^\| \*\*(\w+)\*\* \|(.*?)\|", _doc_section("Layout"), flags=re.M):
        names.append(row[0])
        for name in re.findall(r"`([\w./*]+)`", row[1]):
            ranks[name] = len(names) - 1
    return ranks, names


def web_public_api() -> set[str]:
    """The engine modules web may import: the list under 'The engine's public API' in docs/engine.md."""
    section = _doc_section("Layout").split("### The engine's public API", 1)[1]
    items = "\n".join(line.split(" — ")[0] for line in section.splitlines() if line.startswith("- "))
    return {f"opsconductor.engine.{name}" for name in re.findall(r"`engine\.([\w.]+)`", items)}


RANKS, LAYER_NAMES = layer_map()


def _path(module: str) -> str:
    """opsconductor.engine.config.loader → config/loader; a package → its __init__; web → web/…"""
    package, _, rest = module.partition(".")[2].partition(".")
    rel = "/".join(rest.split(".")) if rest else ""
    if MODULES[module].name == "__init__.py":
        rel = f"{rel}/__init__" if rel else "__init__"
    return f"web/{rel}" if package == "web" else rel


def _matches(path: str, unit_name: str) -> bool:
    return path.startswith(unit_name) if unit_name.endswith("/") else fnmatch.fnmatchcase(path, unit_name)


def unit(module: str) -> str:
    """The most specific entry of the layer table naming the module (`connectors/spec` before
    `connectors/`), or "" for the package roots and anything unplaced."""
    found = [u for u in RANKS if _matches(_path(module), u)]
    return max(found, key=len) if found else ""


def test_the_layer_map_places_every_module():
    assert len(LAYER_NAMES) >= 8, LAYER_NAMES
    roots = {m for m in MODULES if m in PACKAGES}
    unplaced = sorted(_path(m) for m in MODULES if m not in roots and not unit(m))
    assert unplaced == [], "place these in docs/engine.md#layout"
    unused = sorted(set(RANKS) - {unit(m) for m in MODULES})
    assert unused == [], "docs/engine.md#layout names units that do not exist"


def test_every_import_of_ours_names_a_module_that_exists():
    assert not MISSING, "\n".join(MISSING)


def test_no_import_goes_up_the_layers():
    upward = [f"{imp.where()}: layer {LAYER_NAMES[RANKS[unit(imp.target)]]} is above "
              f"{LAYER_NAMES[RANKS[unit(imp.source)]]}"
              for imp in IMPORTS
              if unit(imp.source) in RANKS and unit(imp.target) in RANKS
              and RANKS[unit(imp.target)] > RANKS[unit(imp.source)]]
    assert not upward, "\n".join(upward)


def _cycles(edges: dict[str, dict[str, Import]]) -> list[list[Import]]:
    """One cycle (as its imports) per strongly connected component with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(v: str) -> None:  # Tarjan; the graphs are small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(edges):
        if v not in index:
            connect(v)
    cycles = []
    for component in components:
        nodes, node = [], min(component)
        while node not in nodes:  # follow edges inside the component until a node repeats
            nodes.append(node)
            node = min(w for w in edges[node] if w in component)
        nodes = nodes[nodes.index(node):] + [node]
        cycles.append([edges[a][b] for a, b in zip(nodes, nodes[1:])])
    return cycles


def _describe(cycles: list[list[Import]]) -> list[str]:
    return [" → ".join(imp.where() for imp in cycle) for cycle in cycles]


def test_no_cycle_between_units():
    edges: dict[str, dict[str, Import]] = {}
    for imp in IMPORTS:
        a, b = unit(imp.source), unit(imp.target)
        if a and b and a != b:
            edges.setdefault(a, {}).setdefault(b, imp)
    cycles = _describe(_cycles(edges))
    assert not cycles, "\n".join(cycles)


def test_no_cycle_between_modules():
    edges: dict[str, dict[str, Import]] = {}
    for imp in IMPORTS:
        if not imp.type_only:
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    cycles = _describe(_cycles(edges))
    assert not cycles, "\n".join(cycles)


def test_web_uses_only_the_engine_public_api():
    public = web_public_api()
    assert public and all(m in MODULES for m in public), sorted(public - set(MODULES))
    private = [imp.where() for imp in IMPORTS
               if unit(imp.source) == "web/" and imp.target.startswith("opsconductor.engine.")
               and imp.target not in public]
    assert not private, "\n".join(private)


def test_the_check_sees_function_level_and_type_only_imports():
    """The parser itself: an import inside a function counts; TYPE_CHECKING is marked."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .model import Alert\n"
              "def f():\n    from .store import alerts\n    from . import ids\n")
    missing: list[str] = []
    found = imports_of("opsconductor.engine.probe", ROOT / "engine" / "probe.py", source + "from .gone import x\n",
                       missing)
    assert missing == ["engine/probe.py:7: opsconductor.engine.probe imports opsconductor.engine.gone, which does not exist"]
    assert {(i.target, i.line, i.type_only) for i in found} == {
        ("opsconductor.engine.model", 3, True), ("opsconductor.engine.store.alerts", 5, False),
        ("opsconductor.engine.ids", 6, False)}
    assert found[0].where() == "engine/probe.py:3: opsconductor.engine.probe imports opsconductor.engine.model"
