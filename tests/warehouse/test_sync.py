"""The sync engine on the two destinations that need no emulator (a DuckDB file and PostgreSQL), from
both store engines: initial load, no-op re-sync, incremental changes, schema evolution, a destination
that is down."""

from __future__ import annotations

import logging

import pytest

from ledger_pipeline.warehouse import DestinationUnavailable, TargetConfig, create_destination, sync_target
from tests.warehouse.conftest import assert_equal_to_ledger, post, settle_pending, sync
from tests.warehouse.settle import wait_until_settled


def test_initial_sync_copies_every_table_and_second_sync_moves_nothing(ledger, warehouse):
    first = sync(ledger, warehouse)
    assert first.rows["ledger_transactions"] == 300
    assert first.rows["ledger_entries"] > 600
    assert first.rows["ledger_account_balances"] == 48
    assert first.rows["ledgers"] == 1
    assert_equal_to_ledger(ledger, warehouse)

    again = sync(ledger, warehouse)
    assert again.total_rows == 0
    assert_equal_to_ledger(ledger, warehouse)


def test_incremental_sync_moves_only_what_changed(ledger, warehouse):
    sync(ledger, warehouse)
    batch = post(ledger, 40, seed=2, prefix="b", pending_every=2)
    settled = settle_pending(ledger, batch)  # pending -> posted: updates existing rows

    result = sync(ledger, warehouse)
    assert result.rows["ledger_transactions"] == 40  # 40 new (20 of them then posted: same rows)
    assert result.rows["ledger_entries"] == batch.num_rows
    assert 0 < result.rows["ledger_account_balances"] <= 48
    assert settled == 20
    assert_equal_to_ledger(ledger, warehouse)
    assert sync(ledger, warehouse).total_rows == 0


def test_settling_old_pending_transactions_updates_synced_rows(ledger, warehouse):
    from tests.warehouse.conftest import staged

    sync(ledger, warehouse)
    settle_pending(ledger, staged(300, seed=1, prefix="a", pending_every=4))
    result = sync(ledger, warehouse)
    assert result.rows["ledger_transactions"] == 75  # the pending quarter, now posted
    assert_equal_to_ledger(ledger, warehouse)
    rows = {r["external_id"]: r for r in _rows(warehouse, "ledger_transactions")}
    assert {r["status"] for r in rows.values()} == {"posted"}


def _rows(target, table):
    destination = create_destination(target)
    destination.open()
    try:
        return destination.fetch_rows(table)
    finally:
        destination.close()


def test_balances_carry_posted_pending_and_available_amounts(ledger, warehouse):
    from ledger_pipeline.ledger.balances import account_balances

    sync(ledger, warehouse)
    with ledger.connect() as conn:
        expected = {b["account_id"]: b for b in account_balances(conn)}
    rows = _rows(warehouse, "ledger_account_balances")
    assert len(rows) == len(expected) == 48
    for row in rows:
        want = expected[row["ledger_account_id"]]
        for kind in ("posted", "pending", "available"):
            for part in ("debits", "credits", "amount"):
                assert int(row[f"{kind}_{part}"]) == want[f"{kind}_{part}"], (kind, part)
    assert any(int(r["pending_amount"]) != int(r["posted_amount"]) for r in rows)


def test_typed_columns_and_raw_json(ledger, warehouse):
    import json
    from datetime import datetime
    from decimal import Decimal

    from ledger_pipeline.ledger.ids import is_uuid_text

    warehouse = TargetConfig(warehouse.name, warehouse.type, {**warehouse.options, "raw_json": True})
    sync(ledger, warehouse)
    entry = _rows(warehouse, "ledger_entries")[0]
    assert isinstance(entry["amount"], Decimal) and entry["amount"] == int(entry["amount"])
    assert isinstance(entry["effective_at"], datetime) and entry["effective_at"].tzinfo is not None
    assert isinstance(entry["_synced_at"], datetime)
    for column in ("id", "ledger_transaction_id", "ledger_account_id"):  # the store's UUIDs, as their text
        assert is_uuid_text(entry[column]) and entry[column] == entry[column].lower(), column
    raw = json.loads(entry["raw_json"])
    assert raw["id"] == entry["id"] and int(raw["amount"]) == int(entry["amount"])
    assert raw["change_seq"] == entry["_version"]


def test_missing_columns_are_added(ledger, warehouse):
    sync(ledger, warehouse)
    destination = create_destination(warehouse)
    destination.open()
    name = destination._name("ledgers")
    destination.conn.execute(f"ALTER TABLE {name} DROP COLUMN description")
    destination.close()
    sync(ledger, warehouse)  # ensure_table puts the column back
    assert "description" in _rows(warehouse, "ledgers")[0]


def test_destination_down_is_retried_with_backoff_then_reported(ledger, caplog):
    target = TargetConfig("analytics", "postgres", {
        "url": "postgresql://postgres@127.0.0.1:1/none", "schema": "wh_down", "connect_timeout": 2,
        "retry": {"attempts": 3, "wait_initial": 0.05, "wait_max": 0.2}})
    with caplog.at_level(logging.WARNING, logger="ledger_pipeline.warehouse.engine"), \
            pytest.raises(DestinationUnavailable) as info:
        sync_target(ledger, target)
    message = str(info.value)
    assert "'analytics'" in message and "127.0.0.1:1" in message and "after 3 attempt(s)" in message
    assert "OperationalError" in message
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2


def test_destination_that_comes_back_is_synced_on_a_retry(ledger, pg_warehouse, monkeypatch):
    """The first two connection attempts fail (down), the third reaches it: one sync, no error."""
    import psycopg

    from ledger_pipeline.warehouse import postgres

    wait_until_settled(ledger)  # a PostgreSQL store: every row below the next snapshot's xmin
    real_connect, calls = psycopg.connect, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= 2:
            raise psycopg.OperationalError("connection refused (simulated outage)")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(postgres.psycopg, "connect", flaky)
    target = TargetConfig(pg_warehouse.name, "postgres", {**pg_warehouse.options,
                                                          "retry": {"attempts": 4, "wait_initial": 0.01}})
    result = sync_target(ledger, target)
    assert result.attempts == 3 and result.rows["ledger_transactions"] == 300
    monkeypatch.undo()
    assert_equal_to_ledger(ledger, pg_warehouse)


def test_duckdb_amounts_are_stored_without_bit_packing(duckdb_ledger, duckdb_warehouse):
    """The DuckDB destination stores amounts (DECIMAL(38,0)) without bit-packing, which DuckDB decodes
    many times slower than the RLE or plain storage it picks instead (docs/warehouse.md)."""
    import duckdb

    sync(duckdb_ledger, duckdb_warehouse)
    with duckdb.connect(duckdb_warehouse.option("path"), read_only=True) as conn:
        kinds = {kind for (kind,) in conn.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('main.ledger_entries') "
            "WHERE column_name = 'amount' AND segment_type <> 'VALIDITY'").fetchall()}
    assert kinds and "BitPacking" not in kinds, kinds
