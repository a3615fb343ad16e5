"""Every channel type against the shared contract (notify_contract.py)."""
from __future__ import annotations

import pytest
from notify_contract import KITS, Kit, leaks, run
from notify_helpers import outbox_count

from opsconductor.engine.notify.delivery import RetryPolicy

pytestmark = pytest.mark.parametrize("kit", KITS, ids=[k.type for k in KITS])


def needs(kit: Kit, fault: str) -> None:
    if fault not in kit.faults:
        pytest.skip(f"the {kit.type} channel has no {fault} failure mode")


def statuses(rows) -> list[str]:
    return [r["status"] for r in rows]


def test_delivered_once_and_logged_sent(kit, sinks, tmp_path, db_url, caplog) -> None:
    rows, notifier = run(kit, sinks, tmp_path, db_url)
    assert statuses(rows) == ["sent"]
    row = rows[0]
    assert row["rule_name"] == "page" and row["channel"] == "ch" and row["alert_id"]
    assert row["response_time_ms"] is not None and row["error_message"] is None
    assert row["payload"]["kind"] == "firing" and row["payload"]["attempt"] == 1
    assert (notifier.sent, notifier.failed, notifier.pending()) == (1, 0, 0)
    if kit.type != "log":
        assert kit.deliveries(sinks) == 1
    else:
        assert "[CRITICAL] UPS Low Battery - site1-ups" in caplog.text
    assert leaks(kit, rows, caplog, row["recipient"]) == []


def test_transient_failure_is_retried(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "transient")
    rows, notifier = run(kit, sinks, tmp_path, db_url, faults=("transient",))
    assert statuses(rows) == ["retrying", "sent"]
    assert any(code in rows[0]["error_message"] for code in ("HTTP 500", "SMTP 451"))
    assert "attempt 1/3" in rows[0]["error_message"] and "retrying in" in rows[0]["error_message"]
    assert kit.deliveries(sinks) == 1 and notifier.retried == 1


def test_timeout_per_attempt_is_retried(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "slow")
    rows, _ = run(kit, sinks, tmp_path, db_url, faults=("slow:1.5",), timeout="300ms")
    assert statuses(rows) == ["retrying", "sent"]
    # The sink answers after 1.5 s: that the first attempt is `retrying`, not `sent`, is the timeout's doing.
    assert "timed out after 0.3s" in rows[0]["error_message"]


def test_retry_after_is_honoured(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "429")
    rows, _ = run(kit, sinks, tmp_path, db_url, faults=("429:1",))
    assert statuses(rows) == ["retrying", "sent"]
    assert "HTTP 429" in rows[0]["error_message"] and "retrying in 1s" in rows[0]["error_message"]
    assert len(kit.attempts(sinks)) == 2  # the wait itself: test_notify_retry_after.py, on a simulated clock


def test_retry_after_is_bounded(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "429")
    policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2, retry_after_max=0.25)
    rows, _ = run(kit, sinks, tmp_path, db_url, faults=("429:3600",), policy=policy)
    assert statuses(rows) == ["retrying", "sent"] and "retrying in 0.25s" in rows[0]["error_message"]


def test_permanent_failure_is_not_retried(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "permanent")
    rows, notifier = run(kit, sinks, tmp_path, db_url, faults=("permanent",))
    assert statuses(rows) == ["failed"]
    assert any(code in rows[0]["error_message"] for code in ("HTTP 400", "SMTP 550"))
    assert "retrying" not in rows[0]["error_message"] and notifier.failed == 1


def test_quick_retries_are_bounded_then_the_message_is_parked(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "transient")
    rows, notifier = run(kit, sinks, tmp_path, db_url, faults=("transient",) * 5, retries=2)
    assert statuses(rows) == ["retrying", "retrying", "retrying"]
    assert "attempt 3/3" in rows[-1]["error_message"] and "parked: next attempt in 30s" in rows[-1]["error_message"]
    assert kit.deliveries(sinks) == 0 and (notifier.sent, notifier.failed, notifier.parked) == (0, 0, 1)
    assert outbox_count(db_url) == 1  # waits there for its next attempt


def test_without_a_retry_window_the_quick_retries_decide(kit, sinks, tmp_path, db_url) -> None:
    needs(kit, "transient")
    rows, notifier = run(kit, sinks, tmp_path, db_url, faults=("transient",) * 5, retries=2, retry_for="0s")
    assert statuses(rows) == ["retrying", "retrying", "failed"]
    assert "attempt 3/3" in rows[-1]["error_message"] and "retries exhausted" in rows[-1]["error_message"]
    assert kit.deliveries(sinks) == 0 and (notifier.sent, notifier.failed) == (0, 1) and outbox_count(db_url) == 0


def test_connection_refused_is_retried_and_recorded(kit, sinks, tmp_path, db_url, caplog) -> None:
    needs(kit, "refused")
    rows, _ = run(kit, sinks, tmp_path, db_url, refuse=True, retries=1)
    assert statuses(rows) == ["retrying", "retrying"]
    assert "connection failed" in rows[-1]["error_message"] and "parked" in rows[-1]["error_message"]
    assert leaks(kit, rows, caplog) == []


def test_secrets_never_leak(kit, sinks, tmp_path, db_url, caplog) -> None:
    needs(kit, "echo")
    rows, _ = run(kit, sinks, tmp_path, db_url, faults=("echo", "transient"))
    assert statuses(rows) == ["retrying", "retrying", "sent"]
    assert leaks(kit, rows, caplog, " ".join(r["recipient"] for r in rows)) == []
    if kit.type == "pagerduty":
        assert rows[-1]["payload"]["request"]["routing_key"] == "********"


def test_unavailable_secret_fails_without_a_request(kit, sinks, tmp_path, db_url) -> None:
    if kit.missing_secret is None:
        pytest.skip(f"the {kit.type} channel has no secret")
    rows, _ = run(kit, sinks, tmp_path, db_url, env={})
    assert statuses(rows) == ["failed"]
    assert kit.missing_secret in rows[0]["error_message"]
    assert kit.deliveries(sinks) == 0 and kit.attempts(sinks) == []
