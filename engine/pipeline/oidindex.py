"""Find the OID map for a notification: exact beats wildcard, longer prefix beats shorter,
more varbind conditions beat fewer."""
from __future__ import annotations

import re
from functools import lru_cache

from ..config.bundle import OidMapping, VarbindCondition
from .varbinds import Varbinds


class OidIndex:
    def __init__(self, mappings: tuple[OidMapping, ...] | list[OidMapping]):
        self._exact: dict[str, list[OidMapping]] = {}
        self._wild: dict[str, list[OidMapping]] = {}
        for m in mappings:
            target = self._wild if m.pattern.wildcard else self._exact
            target.setdefault(m.pattern.prefix, []).append(m)
        for group in (*self._exact.values(), *self._wild.values()):
            group.sort(key=lambda m: -len(m.conditions))  # stable: file order among equals

    def lookup(self, trap_oid: str, varbinds: Varbinds) -> OidMapping | None:
        for m in self._exact.get(trap_oid, ()):
            if _conditions_hold(m.conditions, varbinds):
                return m
        if self._wild:
            arcs = trap_oid.split(".")
            for end in range(len(arcs) - 1, 0, -1):
                for m in self._wild.get(".".join(arcs[:end]), ()):
                    if _conditions_hold(m.conditions, varbinds):
                        return m
        return None


def _conditions_hold(conditions: tuple[VarbindCondition, ...], varbinds: Varbinds) -> bool:
    for c in conditions:
        found, value = varbinds.find(c.varbind)
        if not found:
            return False
        text = str(value)
        if c.equals is not None and text != str(c.equals):
            return False
        if c.one_of and text not in {str(v) for v in c.one_of}:
            return False
        if c.regex is not None and not _regex(c.regex).search(text):
            return False
    return True


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
