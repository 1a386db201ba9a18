"""A sync that runs while a store write transaction is open, which commits afterwards, delivers that
transaction's rows exactly once: not before the commit (they are not visible), not lost after it (the
watermark the sync acknowledged stayed below the open transaction's writes), never twice.

The open transaction is the public write path (the write entry ``post`` on a connection of ``Store.transaction``) in a thread
that waits on an event before its COMMIT. A second write commits while the first is still open: its
``change_seq`` (transaction id) is higher, and a sync that took it would move its acknowledged position past
the open transaction's rows, which would then never be delivered.

PostgreSQL only: a DuckDB store file cannot be read by a sync while a write transaction is open on it
(another process cannot open the file at all, and this process cannot open it read-only next to the
writer's read-write connection), so there the two never overlap.
"""

from __future__ import annotations

import threading

import pytest

from ledger_pipeline.ledger import posting
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.warehouse import create_destination, sync_target
from tests.warehouse.conftest import assert_equal_to_ledger, new_filled_ledger, staged, sync


@pytest.fixture
def pg_ledger(pg_schema_url) -> Store:
    """The ``ledger`` fixture's ledger on a PostgreSQL store."""
    return new_filled_ledger(pg_schema_url)


def _external_ids(target, table: str, column: str = "external_id") -> set[str]:
    destination = create_destination(target)
    destination.open()
    try:
        return {r[column] for r in destination.fetch_rows(table)}
    finally:
        destination.close()


def _count(store, sql: str) -> int:
    with store.connect(read_only=True) as conn:
        return int(conn.scalar(sql))


def test_a_sync_during_an_open_write_transaction_delivers_its_rows_once_after_commit(pg_ledger, duckdb_warehouse):
    store, target = pg_ledger, duckdb_warehouse
    first = sync(store, target, timeout=600)
    batch = staged(30, seed=21, prefix="open", pending_every=3)
    written, release, outcome = threading.Event(), threading.Event(), {}

    def write_and_wait() -> None:
        try:
            with store.transaction() as conn:
                outcome["result"] = posting.post(conn, posting.PostRequest(batch))
                written.set()
                assert release.wait(120), "never released"
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            outcome["error"] = exc
        finally:
            written.set()

    writer = threading.Thread(target=write_and_wait, daemon=True)
    writer.start()
    try:
        assert written.wait(120) and "error" not in outcome, outcome.get("error")
        with store.transaction() as conn:  # a write that begins after the open one and commits before it
            ensure_account(conn, "main", AccountSpec("opened_while_open", "debit", "USD"))
        during = sync_target(store, target)
        assert not {e for e in _external_ids(target, "ledger_transactions") if e.startswith("open")}
        assert "opened_while_open" not in _external_ids(target, "ledger_accounts", "name")
    finally:
        release.set()
        writer.join(120)
    assert not writer.is_alive() and "error" not in outcome, outcome.get("error")
    assert outcome["result"].created == 30 and not outcome["result"].reason_counts

    open_low = _count(store, "SELECT min(change_seq) FROM ledger_transactions WHERE external_id LIKE 'open%'")
    assert during.watermark <= open_low, "the sync acknowledged a position past a write still open"

    after = sync(store, target, timeout=600)
    assert_equal_to_ledger(store, target)
    # exactly once: every entry and transaction was moved by one sync only (none is updated in this test)
    for table in ("ledger_entries", "ledger_transactions"):
        moved = first.rows[table] + during.rows.get(table, 0) + after.rows[table]
        assert moved == _count(store, f"SELECT count(*) FROM {table}"), table
    assert after.rows["ledger_transactions"] == 30
    assert sync_target(store, target).total_rows == 0
