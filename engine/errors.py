"""The one exception base of OpsConductor, and the located problem it reports.

Every error a user can cause names where it is: a file:line:col and JSON path for
config, a connector and field for vendor data, an HTTP envelope for the API.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class OpscError(Exception):
    """Base of every error OpsConductor raises on purpose."""


class Level(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in the config tree (or another input)."""

    file: str
    line: int  # 1-based; 0 when the whole file is meant
    col: int  # 1-based; 0 when the whole file is meant
    path: str  # JSON path into the document, e.g. "$.mappings[2].oid"
    message: str
    hint: str | None = None
    level: Level = Level.ERROR

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"
        if self.level is Level.WARNING:
            text = f"{self.file}:{self.line}:{self.col}: {self.path}: warning: {self.message}"
        if self.hint:
            text += f"\n    Hint: {self.hint}"
        return text


class ConfigError(OpscError):
    """A config tree that cannot be used; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        errors = [p for p in self.problems if p.level is Level.ERROR]
        super().__init__(f"{len(errors)} config problem(s)\n" + "\n".join(p.format() for p in errors))


class StoreError(OpscError):
    """The database refused or could not be reached."""


class MigrationError(StoreError):
    """A migration file is broken, changed after being applied, or failed to apply."""


class ConnectorError(OpscError):
    """A connector could not poll or parse its source; names connector and field."""

    def __init__(self, connector: str, message: str, field: str | None = None):
        self.connector = connector
        self.field = field
        where = f"{connector}" + (f": {field}" if field else "")
        super().__init__(f"{where}: {message}")


class RulesError(OpscError):
    """The rules engine refused a ruleset or an event."""
