"""The file-watch trigger: changes under the config tree → one reload per burst of saves.

The watcher outlives anything a reload or the file system does to it: an exception is
logged and watching goes on (a watcher that died silently would leave every later good
edit unapplied); a tree that vanished is watched again once it is back.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

log = logging.getLogger("opsconductor.watch")

DEBOUNCE_MS = 300  # an editor's save-rename or a `git checkout` of many files → one reload
RETRY_SECONDS = 2.0  # before watching again after the watch itself failed


def _relevant(change, path: str) -> bool:
    name = Path(path).name
    return path.endswith((".yaml", ".yml")) and not name.startswith(".") and "/.git/" not in path


async def watch_config(root: Path, live, stop: asyncio.Event, retry_seconds: float = RETRY_SECONDS) -> None:
    while not stop.is_set():
        try:
            async for changes in awatch(root, watch_filter=_relevant, debounce=DEBOUNCE_MS, stop_event=stop,
                                        recursive=True):
                await _reload(root, live, changes)
            if stop.is_set():
                return
            log.error("watching %s ended by itself; watching again in %.0f s", root, retry_seconds)
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            log.error("watching %s failed (%s: %s); watching again in %.0f s", root, type(exc).__name__, exc,
                      retry_seconds)
        try:
            await asyncio.wait_for(stop.wait(), timeout=retry_seconds)
        except asyncio.TimeoutError:
            pass


async def _reload(root: Path, live, changes) -> None:
    try:
        files = sorted({str(Path(p).relative_to(root)) if Path(p).is_relative_to(root) else p for _, p in changes})
        log.info("config files changed: %s", ", ".join(files[:10]) + (" …" if len(files) > 10 else ""))
        outcome = await live.arequest("file")
        log.info("reload after file change: %s", outcome.outcome)
    except Exception as exc:  # noqa: BLE001 - one failed reload never ends the watch
        log.error("reload after file change failed: %s: %s", type(exc).__name__, exc)
