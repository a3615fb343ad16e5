"""Where benchmarks write: a scratch database next to OPSC_DATABASE_URL / OPSC_TEST_DATABASE_URL,
or an embedded PostgreSQL in a temporary directory. Never the database of that URL itself."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


@contextmanager
def server_url() -> Iterator[str]:
    url = os.environ.get("OPSC_DATABASE_URL") or os.environ.get("OPSC_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from opsconductor.engine.store.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="opsc-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pg")
        try:
            yield server.start()
        finally:
            server.stop()


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    name = f"opsc_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path="/" + name))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


