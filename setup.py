"""Which packages the distribution holds; pyproject.toml says everything else.

engine/, web/ and migrations/ sit at the top of the repository (DESIGN.md §1) and install as
opsconductor.engine, opsconductor.web and opsconductor.migrations. setuptools' own discovery
(`[tool.setuptools.packages.find]`) cannot put that prefix on what it finds, so it is put on here:
every folder with an `__init__.py` below those three is a package, and a new one (a connector
type, engine/connectors/<type>/) is packaged with no edit. Its data files ship by the globs of
pyproject.toml's `[tool.setuptools.package-data]`."""
from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

ROOTS = {"opsconductor.engine": "engine", "opsconductor.web": "web", "opsconductor.migrations": "migrations"}


def packages(root: Path) -> list[str]:
    return [name for prefix, folder in ROOTS.items()
            for name in (prefix, *(f"{prefix}.{sub}" for sub in find_packages(str(root / folder))))]


if __name__ == "__main__":
    setup(package_dir=ROOTS, packages=packages(Path(__file__).resolve().parent))
