"""The connection pool: store functions run on its autocommit connections."""
from __future__ import annotations

import pytest

from opsconductor.engine.errors import StoreError
from opsconductor.engine.store.config_versions import get_current, record_applied
from opsconductor.engine.store.pool import close_pool, open_pool, redact_url


def test_store_functions_commit_on_pooled_connections(db_url):
    pool = open_pool(db_url, max_size=2)
    try:
        with pool.connection() as conn:
            version = record_applied(conn, content_hash="a" * 64)
        with pool.connection() as conn:
            assert get_current(conn).id == version.id
            assert conn.info.transaction_status.name == "IDLE"
    finally:
        close_pool(pool)


def test_unreachable_server_is_a_store_error_without_the_password():
    with pytest.raises(StoreError) as caught:
        open_pool("postgresql://opsc:s3cret@127.0.0.1:1/opsc?connect_timeout=1", timeout=1.5)
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_redact_url():
    assert redact_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
