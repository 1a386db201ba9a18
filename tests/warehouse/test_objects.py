"""Every ledger object reaches the warehouse with the exactly-once contract of the transactions: accounts
and their links, statements, payment orders, reconciliation results, quarantine, audit log, categories."""

from __future__ import annotations

from ledger_pipeline.reconcile.payment_orders import upsert_payment_orders
from ledger_pipeline.warehouse import EXPORT_TABLES
from tests.warehouse.conftest import assert_equal_to_ledger, sync
from tests.warehouse.objects import OBJECT_TABLES, add_category, populate_objects, remove_from_category


def test_every_object_is_synced_row_for_row_and_changes_once(store, warehouse):
    populate_objects(store)
    first = sync(store, warehouse)
    assert OBJECT_TABLES <= {t.name for t in EXPORT_TABLES}
    empty = sorted(t for t in OBJECT_TABLES if not first.rows.get(t))
    assert not empty, f"tables with no rows synced: {empty}"
    assert first.rows["ledger_account_category_children"] == 2
    assert_equal_to_ledger(store, warehouse)

    # Changes: an order completes (its ledger transaction posts), an account leaves a category, a new one.
    with store.transaction() as conn:
        upsert_payment_orders(conn, [{
            "id": "po-1", "type": "ach", "direction": "credit", "amount": 40_00, "currency": "USD",
            "originating_account_id": "operating", "receiving_account_id": "acme", "status": "completed",
            "effective_date": "2025-03-04", "metadata": {"purpose": "invoice 42"}}])
        remove_from_category(conn, "liabilities", "acme_payable")
        add_category(conn, "payables", "credit", accounts=("acme_payable",))
    second = sync(store, warehouse)
    assert second.rows["payment_orders"] == 1
    assert second.rows["ledger_account_category_accounts"] == 2  # one removed, one added
    assert second.rows["ledger_account_categories"] == 1
    assert second.rows["internal_accounts"] == second.rows["bank_statement_lines"] == 0
    assert_equal_to_ledger(store, warehouse)
    assert sync(store, warehouse).total_rows == 0
