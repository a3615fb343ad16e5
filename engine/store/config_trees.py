"""The text of applied config trees (migration 017), keyed by content hash: what
`opsc replay` uses as its baseline by default (the running version)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import psycopg

from .jsonb import jsonb


def store_tree(conn: psycopg.Connection, content_hash: str, files: Mapping[str, str]) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO config_trees (content_hash, files) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (content_hash, jsonb(dict(files))))


def load_tree_files(conn: psycopg.Connection, content_hash: str) -> dict[str, str] | None:
    row = conn.execute("SELECT files FROM config_trees WHERE content_hash = %s", (content_hash,)).fetchone()
    return dict(row[0]) if row else None


def write_tree(files: Mapping[str, str], into: Path) -> Path:
    """Lay the files out under `into` (paths are relative and stay inside it)."""
    root = into.resolve()
    for rel, text in files.items():
        path = (root / rel).resolve()
        if root not in path.parents:
            raise ValueError(f"a stored tree names a path outside it: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
