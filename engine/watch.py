"""The file-watch trigger: changes under the config tree → one reload per burst of saves."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

log = logging.getLogger("opsconductor.watch")

DEBOUNCE_MS = 300  # an editor's save-rename or a `git checkout` of many files → one reload


def _relevant(change, path: str) -> bool:
    name = Path(path).name
    return path.endswith((".yaml", ".yml")) and not name.startswith(".") and "/.git/" not in path


async def watch_config(root: Path, live, stop: asyncio.Event) -> None:
    async for changes in awatch(root, watch_filter=_relevant, debounce=DEBOUNCE_MS, stop_event=stop,
                                recursive=True):
        files = sorted({str(Path(p).relative_to(root)) for _, p in changes})
        log.info("config files changed: %s", ", ".join(files[:10]) + (" …" if len(files) > 10 else ""))
        outcome = await live.arequest("file")
        log.info("reload after file change: %s", outcome.outcome)
