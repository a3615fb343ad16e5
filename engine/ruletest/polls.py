"""Polling connectors in rule tests (filled in below)."""
from __future__ import annotations


class Pollers:
    def __init__(self, sim) -> None:
        self.sim = sim

    def restart(self) -> None:
        pass

    def poll(self, spec):
        from .simulation import StepError
        raise StepError("poll: not supported yet")
