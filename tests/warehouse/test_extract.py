"""Reading the store: the catalog shortcuts a sync takes on its hot path agree with the slow, general ones."""

from __future__ import annotations

from ledger_pipeline.ledger.store import quote_identifier
from ledger_pipeline.warehouse import EXPORT_TABLES, sync_target
from ledger_pipeline.warehouse.extract import existing_tables, export_watermark, snapshot
from tests.warehouse.conftest import post


def test_existing_tables_match_information_schema(ledger):
    with ledger.connect(read_only=True) as conn:
        listed = {r[0] for r in conn.all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        assert existing_tables(conn) == listed
        assert {"ledger_entries", "ledger_transactions", "ledger_account_balances"} <= listed


def test_duckdb_watermark_is_the_cores_rule_over_the_exported_tables(duckdb_ledger, duckdb_warehouse):
    """Exact (1 + the highest exported change_seq) and never above the core's watermark, also after the store
    file is reopened (when the sequence's last_value reports the next value); a sync then a write then a
    sync moves the new rows exactly once."""
    for _ in range(2):
        with duckdb_ledger.connect(read_only=True) as conn:
            present = existing_tables(conn)
            highest = conn.scalar("SELECT max(m) FROM (" + " UNION ALL ".join(
                f"SELECT max(change_seq) AS m FROM {quote_identifier(t.source_table)}"
                for t in EXPORT_TABLES if t.source_table in present) + ") u")
            ours = export_watermark(conn)
            assert ours == highest + 1
            assert ours <= conn.safe_change_watermark()
        with snapshot(duckdb_ledger) as (_, watermark):
            assert watermark == ours
        first = sync_target(duckdb_ledger, duckdb_warehouse, tables=["ledger_entries"])
        post(duckdb_ledger, 10, seed=7 + first.watermark, prefix=f"w{first.watermark}")
        second = sync_target(duckdb_ledger, duckdb_warehouse, tables=["ledger_entries"])
        assert second.positions["ledger_entries"][0] == first.watermark
        assert second.rows["ledger_entries"] >= 20  # 10 new transactions, two or three entries each
