"""The engine's connection pool: a small psycopg_pool.ConnectionPool.

Small on purpose: the target box has 2 cores, and PostgreSQL does its best work with
few busy sessions. Pooled connections are autocommit because every store function
opens its own `conn.transaction()`; a plain SELECT then never leaves a session idle
in transaction.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import StoreError

DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 4


def open_pool(
    database_url: str,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_size: int = DEFAULT_MAX_SIZE,
    timeout: float = 10.0,
) -> ConnectionPool:
    """An open pool, its first connection made; StoreError when the server does not answer.

    Use as a context manager (`with open_pool(url) as pool:`) or call close_pool().
    """
    pool = ConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        name="opsconductor",
        open=False,
        timeout=timeout,
    )
    try:
        pool.open(wait=True, timeout=timeout)
    except PoolTimeout as exc:
        pool.close()
        raise StoreError(
            f"no connection to {redact_url(database_url)} within {timeout:g}s; "
            "is PostgreSQL running and OPSC_DATABASE_URL right?"
        ) from exc
    return pool


def close_pool(pool: ConnectionPool, *, timeout: float = 5.0) -> None:
    """Close the pool, waiting up to `timeout` for connections in use to come back."""
    pool.close(timeout=timeout)


def redact_url(url: str) -> str:
    """The URL with its password replaced, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
