"""The cyclic garbage collector's settings for the engine's long-running processes (the
engine itself and its notifier child)."""
from __future__ import annotations

import gc


def tune_gc() -> None:
    """The stage thread allocates ~100 short-lived objects per event; at the default
    threshold (700) the young generation is collected every few events, ~10% of the stage
    time (bench/pipeline.py). 20,000 keeps that under 3% for a few MiB of young objects.
    The notifier holds up to 10,000 notifications in flight (tasks, messages, alerts): at
    the default it spent ~30% of its CPU collecting them (bench/notify.py)."""
    gc.set_threshold(20_000, 10, 10)


def freeze_startup() -> None:
    """What start-up built lives as long as the process: out of the collector's way, so full
    collections stay short."""
    gc.collect()
    gc.freeze()
