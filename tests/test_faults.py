"""Short versions of the fault suite (bench/faults.py, the same code): real `opsc serve`
processes, real PostgreSQL, real UDP; counts asserted, never timings."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("faults", ROOT / "bench" / "faults.py")
faults = importlib.util.module_from_spec(_spec)
sys.modules["faults"] = faults  # dataclasses look their module up
_spec.loader.exec_module(faults)


def no_loss(result: dict, source: str) -> None:
    figures = result[source]
    assert figures["acknowledged"] > 0
    assert (figures["lost"], figures["stored_twice"]) == (0, 0), result


def test_kill_9_in_a_burst_loses_no_acknowledged_event(tmp_path: Path, db_url: str) -> None:
    """2,000 events (webhooks and informs); SIGKILL when half are acknowledged; restart."""
    result = faults.kill9(tmp_path, db_url, 2_000)
    assert result["settled"] and result["clean_exit"], result
    no_loss(result, "webhook")
    no_loss(result, "trap")
    assert result["duplicate_alerts"] == 0, result
    with psycopg.connect(db_url) as conn:  # every event acknowledged made its alert
        (alerts,) = conn.execute("SELECT count(*) FROM alerts WHERE alert_type = 'fault_check'").fetchone()
    assert alerts >= result["webhook"]["acknowledged"]


def test_a_database_outage_spools_and_drains(tmp_path: Path) -> None:
    """Webhooks keep being accepted (journaled) while PostgreSQL is stopped; all stored once
    it is started again. An embedded server of the test's own: the shared one stays up."""
    from opsconductor.engine.store.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path / "pg")
    try:
        db = faults.create_database(server.start(), "outage")
        result = faults.outage(tmp_path / "outage", server, db, seconds=6, rate=50)
    finally:
        server.stop()
    assert result["settled"] and result["clean_exit"], result
    no_loss(result, "webhook")
    assert result["webhook"]["acknowledged"] == 300 and result["webhook"]["refused_503"] == 0, result
    # the sender took 6 s at its pace, all of it without a commit: /healthz says why
    assert any(r.startswith("spooling ") for r in result["healthz_during"]), result
    assert result["duplicate_alerts"] == 0, result


def test_a_flap_in_one_request_stores_every_alert(tmp_path: Path, db_url: str) -> None:
    result = faults.flap(tmp_path, db_url)
    assert result["status"] == 202 and result["settled"] and result["clean_exit"], result
    assert (result["alerts"], result["open"]) == (60, 40), result


def test_a_replayed_journal_makes_no_duplicate(tmp_path: Path, db_url: str) -> None:
    """Killed after the commit but before the journal let the segment go (here: twice, as a
    crash between resubmitting and discarding leaves it): the events come back at start,
    are found stored, and are not run again."""
    serve = faults.Serve(tmp_path, db_url)
    serve.start()
    tally = faults.Tally()
    faults.send_webhooks(serve.base, list(range(50)), tally, faults.threading.Event())
    assert serve.settled()
    journal = next((tmp_path / "data" / "journal").glob("*"))
    kept = sorted(journal.glob("*.journal"))[-1].read_bytes()  # the segment still being written
    serve.kill()
    (journal / "000000000999.journal").write_bytes(kept)  # as if it had not been let go
    serve.start()
    assert serve.settled()
    serve.stop()
    assert "0 event(s) accepted before the last stop were not committed and run again; 50 were already stored" \
        in serve.log()
    result = faults.figures("replay", {"webhook": tally}, db_url)
    no_loss(result, "webhook")
    assert result["duplicate_alerts"] == 0
