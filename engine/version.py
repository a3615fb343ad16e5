"""`opsc --version`: the installed distribution's version, and the git commit when the
package runs from a checkout (an editable install, `make run`)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .config.loader import git_commit

CHECKOUT = Path(__file__).resolve().parents[1]  # engine/ lives at the top of a checkout


def version_text() -> str:
    try:
        text = f"opsc {version('opsconductor')}"
    except PackageNotFoundError:
        text = "opsc (not installed)"
    # Only our own checkout: an installed package inside some other repository must not
    # report that repository's commit.
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "engine" / "cli.py").is_file():
        commit = git_commit(CHECKOUT)
        if commit:
            text += f" (git {commit[:12]})"
    return text
