"""Varbinds as templates and conditions read them: by OID, by column OID, or by MIB name."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from .mibnames import resolve_name


class Varbinds(Mapping[str, Any]):
    """Read-only view over a trap's (oid, value) pairs.

    `vb['1.3.6.1.2.1.2.2.1.1.3']` is exact; `vb['1.3.6.1.2.1.2.2.1.1']` (a column) gives
    the first varbind below it; `vb.ifIndex` / `vb['IF-MIB::ifIndex']` resolve the name first.
    A missing key gives None through .get() and attribute access (templates stay quiet),
    KeyError through [].
    """

    __slots__ = ("_pairs", "_exact", "_found")

    def __init__(self, pairs: Iterable[tuple[str, Any]]):
        self._pairs = tuple(pairs)
        self._exact = {oid: value for oid, value in self._pairs}
        self._found: dict[str, tuple[bool, Any]] = {}  # a trap's title, key and rules read the same names

    def find(self, key: str) -> tuple[bool, Any]:
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = self._search(key)
        return found

    def _search(self, key: str) -> tuple[bool, Any]:
        oid = resolve_name(str(key))
        if oid in self._exact:
            return True, self._exact[oid]
        prefix = oid + "."
        for full, value in self._pairs:
            if full.startswith(prefix):
                return True, value
        return False, None

    def __getitem__(self, key: str) -> Any:
        found, value = self.find(key)
        if not found:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        found, value = self.find(key)
        return value if found else default

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def template_attr(self, name: str) -> Any:
        """`vb.<name>` as getattr gives it, for the template fast path (engine/config/templates.py),
        without the failed normal lookup that precedes __getattr__."""
        return getattr(self, name) if name in _CLASS_ATTRIBUTES else self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._exact)

    def __len__(self) -> int:
        return len(self._pairs)

    def pairs(self) -> tuple[tuple[str, Any], ...]:
        return self._pairs

    def instance(self, prefix: str, arcs: int = 1) -> str:
        """The instance of the first varbind below `prefix` (a table, or a MIB's object subtree):
        its last `arcs` arcs, e.g. the alarm index of an alarm-table varbind, so distinct alarms
        get distinct resource keys and a clear naming the same row finds its raise. "" when none."""
        head = resolve_name(str(prefix)).rstrip(".") + "."
        for full, _ in self._pairs:
            if full.startswith(head):
                rest = full[len(head):].split(".")
                return ".".join(rest[-arcs:]) if len(rest) > arcs else ""
        return ""


_CLASS_ATTRIBUTES = frozenset(dir(Varbinds))
