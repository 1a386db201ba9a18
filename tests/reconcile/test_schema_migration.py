"""A store made before compact matches (every item a row of a ``recon_match_items`` table) is migrated in
place by ``initialize_store`` and keeps its matches, ids and idempotence (both engines). Such a store also
predates the ledger's UUID ids (revision 0010), which the upgrade converts on the way."""

from __future__ import annotations

from datetime import date

from ledger_pipeline.reconcile import run_reconciliation
from ledger_pipeline.store_setup import initialize_store
from tests.reconcile import scenario
from tests.reconcile.scenario import generate, load_planted

AS_OF = date(2025, 4, 15)
PAIR_COLUMNS = ("bank_item_id", "bank_item_date", "ledger_item_id", "ledger_item_date")
# the ledger's id columns, UUIDs since revision 0010 and text before it
LEDGER_ID_COLUMNS = {
    "ledgers": ("id",), "ledger_accounts": ("id", "ledger_id"),
    "ledger_account_categories": ("id", "ledger_id"),
    "ledger_account_category_accounts": ("category_id", "ledger_account_id"),
    "ledger_account_category_children": ("parent_category_id", "child_category_id"),
    "ledger_account_balances": ("ledger_account_id",),
    "ledger_transactions": ("id", "ledger_id", "reverses_id"),
    "ledger_entries": ("id", "ledger_transaction_id", "ledger_account_id"),
}


def _snapshot(store):
    with store.connect() as conn:
        return (sorted(conn.all("SELECT match_id, side, item_id, item_date, amount FROM recon_match_items")),
                sorted(conn.all("SELECT id, rule, bank_count, ledger_count, bank_total, ledger_total FROM recon_matches")),
                sorted(conn.all("SELECT side, item_id, reason, status FROM recon_unmatched")))


def _downgrade_to_one_row_per_item(store) -> None:
    """Rewrite the match tables as the previous schema stored them, its ledger ids as text, and the store's
    version as it recorded it (``schema_info`` only: no Alembic revision)."""
    with store.transaction() as conn:
        conn.execute("CREATE TABLE old_items AS SELECT match_id, side, item_id, internal_account_id, ledger_account_id, "
                     "item_date, amount, change_seq FROM recon_match_items")
        conn.execute("DROP VIEW recon_match_items")
        conn.execute("DROP TABLE recon_match_group_items")
        conn.execute("ALTER TABLE old_items RENAME TO recon_match_items")
        for column in PAIR_COLUMNS:
            conn.execute(f"ALTER TABLE recon_matches DROP COLUMN {column}")
        conn.execute("ALTER TABLE bank_statements DROP COLUMN control_warning")  # added after that schema
        _ledger_ids_as_text(conn)
        conn.execute("DROP TABLE alembic_version")
        conn.execute("UPDATE schema_info SET version = 1 WHERE component = 'reconcile'")


def _ledger_ids_as_text(conn) -> None:
    """The ledger's id columns back to TEXT. DuckDB cannot change the type of a column under a constraint, so
    there each table is copied with its ids as text (without its constraints, which revision 0010 restores
    when it rebuilds the table)."""
    for table, columns in LEDGER_ID_COLUMNS.items():
        if conn.is_postgres:
            conn.execute(f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} TYPE TEXT" for c in columns))
        else:
            as_text = ", ".join(f"CAST({c} AS TEXT) AS {c}" for c in columns)
            conn.execute(f"CREATE TABLE {table}_as_text AS SELECT * REPLACE ({as_text}) FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_as_text RENAME TO {table}")


def test_old_store_is_migrated_and_keeps_its_matches(store):
    scenario.setup_bank_account(store)
    planted = generate(seed=11, pairs=40)
    load_planted(store, planted)
    run_reconciliation(store, as_of=AS_OF)
    before = _snapshot(store)
    assert any(side == "bank" for _, side, *_ in before[0])

    _downgrade_to_one_row_per_item(store)
    assert _snapshot(store) == before  # the old shape reads the same
    initialize_store(store)
    initialize_store(store)  # and again: nothing left to migrate
    assert _snapshot(store) == before

    again = run_reconciliation(store, as_of=AS_OF)
    assert again.matching.matches_by_rule == {}
    assert _snapshot(store) == before
    redo = run_reconciliation(store, as_of=AS_OF, rematch=True)
    assert sum(redo.matching.matches_by_rule.values()) == len(planted.groups)
    assert _snapshot(store) == before  # rematched pairs are now stored on their match row, same ids and items
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM recon_matches WHERE bank_item_id IS NOT NULL") > 0
