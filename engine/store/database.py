"""Which PostgreSQL we use: an external server by URL, or our embedded one (DESIGN.md §4).

Order: the database_url argument (the CLI's --database-url), then OPSC_DATABASE_URL,
then an embedded server with its data under data_dir, OPSC_DATA_DIR, or ./var.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .embedded import EmbeddedPostgres


@dataclass(frozen=True)
class DatabaseLocation:
    url: str
    embedded: bool

    def __repr__(self) -> str:
        # An external URL may carry a password; never print it.
        masked = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", self.url)
        masked = re.sub(r"(password=)[^&\s]*", r"\1***", masked)
        return f"DatabaseLocation(url={masked!r}, embedded={self.embedded})"


class Database:
    """Open the configured database; close() stops the embedded server if we started it."""

    def __init__(self, database_url: str | None = None, data_dir: Path | None = None):
        self._database_url = database_url
        self._data_dir = data_dir
        self._embedded: EmbeddedPostgres | None = None
        self._location: DatabaseLocation | None = None

    def open(self) -> DatabaseLocation:
        if self._location is not None:
            return self._location
        # An empty variable counts as unset, so `OPSC_DATABASE_URL= opsc serve` means embedded.
        url = self._database_url or os.environ.get("OPSC_DATABASE_URL") or None
        if url is not None:
            self._location = DatabaseLocation(url=url, embedded=False)
        else:
            data_dir = self._data_dir or Path(os.environ.get("OPSC_DATA_DIR") or "./var")
            self._embedded = EmbeddedPostgres(data_dir)
            self._location = DatabaseLocation(url=self._embedded.start(), embedded=True)
        return self._location

    def close(self) -> None:
        embedded, self._embedded, self._location = self._embedded, None, None
        if embedded is not None:
            embedded.stop()

    def __enter__(self) -> DatabaseLocation:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
