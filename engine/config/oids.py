"""OID patterns as OID maps write them: exact dotted OIDs, or a prefix ending in `.*`."""
from __future__ import annotations

import re
from dataclasses import dataclass

_DOTTED = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


@dataclass(frozen=True)
class OidPattern:
    text: str
    prefix: str  # the OID without `.*` for a wildcard, the OID itself when exact
    wildcard: bool

    def matches(self, oid: str) -> bool:
        if self.wildcard:
            return oid.startswith(self.prefix + ".")
        return oid == self.prefix

    @property
    def specificity(self) -> tuple[int, int]:
        """Exact beats wildcard; a longer wildcard prefix beats a shorter one."""
        return (0 if self.wildcard else 1, self.prefix.count(".") + 1)


def parse_oid_pattern(text: object) -> OidPattern:
    if not isinstance(text, str):
        raise ValueError(f"an OID pattern is a string like 1.3.6.1.6.3.1.1.5.3, got {text!r}")
    s = text.strip()
    if s.startswith("."):
        raise ValueError(f"{text!r} starts with a dot; write it without the leading dot")
    wildcard = s.endswith(".*")
    body = s[:-2] if wildcard else s
    if "*" in body:
        raise ValueError(f"{text!r}: a wildcard is only allowed as a trailing '.*'")
    if not _DOTTED.match(body):
        raise ValueError(f"{text!r} is not a dotted OID (numbers separated by dots, first arc 0, 1 or 2)")
    if any(int(arc) > 0xFFFFFFFF for arc in body.split(".")):
        raise ValueError(f"{text!r} has an arc larger than 4294967295")
    return OidPattern(s, body, wildcard)


def is_oid(text: object) -> bool:
    return isinstance(text, str) and _DOTTED.match(text) is not None
