"""Which tree the candidate is compared with: a directory, or a git ref of the repository
the candidate tree lives in (the tree's own folder at that commit)."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from .run import ReplayError


def tree_at_ref(tree: Path, ref: str, into: Path) -> Path:
    """Write the files of `tree` as they were at `ref` under `into`; returns the tree's folder there."""
    def git(where: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(where), *args], capture_output=True, timeout=120)

    found = git(tree, "rev-parse", "--show-toplevel", "--show-prefix")
    if found.returncode != 0:
        raise ReplayError(f"--baseline-ref {ref}: {tree} is not in a git checkout")
    top, _, prefix = found.stdout.decode().partition("\n")
    prefix = prefix.strip()
    archive = git(Path(top.strip()), "archive", "--format=tar", ref, "--", prefix or ".")
    if archive.returncode != 0:
        raise ReplayError(f"--baseline-ref {ref}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / prefix
