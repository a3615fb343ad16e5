"""Adding a connector type is making its folder: nothing outside it changes
(docs/connectors.md#adding-a-connector-type). On a copy of the package with one folder added
(ubiquiti/ copied as acme/, its type renamed), the catalog finds the type, `opsc validate` and
`opsc schema` take it, the registry loads its poller, the docs test passes on its README, and
setup.py packages the folder with its data files. And the catalog holds every folder on disk."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from opsconductor.engine.connectors import catalog

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("engine", "web", "migrations", "setup.py", "pyproject.toml", "README.md")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")

# Run in the copy: the type's commands and the docs test's own check on its README.
PROBE = """
import contextlib, io, json, runpy, sys
from opsconductor.engine.cli import main
from opsconductor.engine.connectors import catalog
from opsconductor.engine.connectors.registry import POLLED_CONNECTORS

runpy.run_path(sys.argv[2])["test_connector_keys_documented_in_its_folder"]("acme")
out = {}
for name, argv in (("validate", ["validate", "--config", sys.argv[1]]), ("schema", ["schema", "connector.acme"])):
    with contextlib.redirect_stdout(io.StringIO()) as text:
        out[name] = (main(argv), text.getvalue())
print(json.dumps({"catalog": catalog.__file__, "names": catalog.names(), "out": out,
                  "poller": POLLED_CONNECTORS["acme"].__module__}))
"""


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's sources with engine/connectors/acme/ added, importable from `site/`."""
    root = tmp_path_factory.mktemp("repo")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, root / name, ignore=SKIP)
        else:
            shutil.copy2(ROOT / name, root / name)
    acme = root / "engine" / "connectors" / "acme"
    shutil.copytree(ROOT / "engine" / "connectors" / "ubiquiti", acme, ignore=SKIP)
    for path in acme.iterdir():
        path.write_text(path.read_text(encoding="utf-8").replace("ubiquiti", "acme"), encoding="utf-8")
    (root / "site" / "opsconductor").mkdir(parents=True)
    (root / "site" / "opsconductor" / "engine").symlink_to(root / "engine", target_is_directory=True)
    return root


def test_a_new_folder_is_a_type_with_no_edit_outside_it(copy: Path) -> None:
    tree = copy / "tree" / "connectors.d"
    tree.mkdir(parents=True)
    (tree / "acme.yaml").write_text(textwrap.dedent("""\
        name: acme1
        type: acme
        url: https://uisp.example.net
        api_token: ${env:ACME_TOKEN}
        """), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", PROBE, str(copy / "tree"), str(ROOT / "tests" / "test_docs.py")],
                          capture_output=True, text=True, timeout=120, cwd=copy,
                          env={"PYTHONPATH": str(copy / "site"), "ACME_TOKEN": "t", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["catalog"] == str(copy / "site" / "opsconductor" / "engine" / "connectors" / "catalog.py")
    assert result["names"] == ["acme", *catalog.names()]  # folders in name order
    code, text = result["out"]["validate"]
    assert code == 0 and text.startswith("ok: "), text
    code, text = result["out"]["schema"]
    assert code == 0 and json.loads(text)["properties"]["type"] == {
        "const": "acme", "description": "Connector type; selects the schema of the remaining keys."}
    assert result["poller"] == "opsconductor.engine.connectors.acme.connector"


def test_setup_packages_a_new_folder_with_its_data_files(copy: Path, tmp_path: Path) -> None:
    """setup.py's build_py (what a wheel holds): every file of the sources, the new folder's too."""
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "lib")],
                          capture_output=True, text=True, timeout=120, cwd=copy)
    assert proc.returncode == 0, proc.stderr
    built = {p.relative_to(tmp_path / "lib" / "opsconductor").as_posix()
             for p in (tmp_path / "lib").rglob("*") if p.is_file()}
    sources = {p.relative_to(copy).as_posix() for folder in ("engine", "web", "migrations")
               for p in (copy / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {"engine/connectors/acme/schema.json", "engine/connectors/acme/README.md",
            "engine/connectors/acme/connector.py"} <= sources
    assert sources - built == set()


def test_the_catalog_holds_every_folder_on_disk() -> None:
    folders = {p.parent.name for p in (ROOT / "engine" / "connectors").glob("*/__init__.py")}
    declared = {t.package.rsplit(".", 1)[1] for t in catalog.all_types()}
    assert declared == folders
