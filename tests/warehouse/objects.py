"""A store holding one or more of every ledger object the warehouse publishes beyond transactions: internal
and external accounts linked to ledger accounts, a bank statement and its lines, payment orders, a
reconciliation run (matches, unmatched items, a variance), a quarantined record, the audit log, and
categories with their accounts and a nested category."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from ledger_pipeline.ledger import categories
from ledger_pipeline.ledger.batch_input import normalise_entries
from ledger_pipeline.ledger.posting import post_batch
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.reconcile.payment_orders import upsert_payment_orders
from ledger_pipeline.reconcile.runner import run_reconciliation
from tests.reconcile import scenario

# The tables populate_objects fills (besides the ledger's own).
OBJECT_TABLES = {
    "internal_accounts", "external_accounts", "bank_statements", "bank_statement_lines", "payment_orders",
    "recon_runs", "recon_matches", "recon_match_items", "recon_unmatched", "recon_balance_variances",
    "quarantine", "audit_log", "events", "ledger_account_categories", "ledger_account_category_accounts",
    "ledger_account_category_children",
}


def add_category(conn: Connection, name: str, normal_balance: str, *, accounts: tuple[str, ...] = (),
                 children: tuple[str, ...] = (), currency: str | None = None, ledger: str = "main") -> str:
    """A category of ``ledger`` holding the ledger accounts and categories named; returns its id."""
    category_id = categories.ensure_category(conn, ledger, categories.CategorySpec(name, normal_balance, currency))
    for account in accounts:
        categories.add_account(conn, ledger, name, account)
    for child in children:
        categories.add_child(conn, ledger, name, child)
    return category_id


def remove_from_category(conn: Connection, category: str, account: str, ledger: str = "main") -> None:
    """End an account's membership of a category (the row stays, with ``removed_at``)."""
    assert categories.remove_account(conn, ledger, category, account)


def _quarantine_one(store: Store) -> None:
    """A transaction on an account that does not exist: refused into quarantine."""
    rows = {"external_id": ["bad-1", "bad-1"], "account": ["no_such_account", scenario.OTHER],
            "direction": ["debit", "credit"], "amount_minor": ["500", "500"],
            "effective_at": ["2025-03-03T12:00:00+00:00"] * 2}
    result = post_batch(store, normalise_entries(pa.table(rows), source_name="objects"))
    assert result.quarantined == 1, result.as_dict()


def populate_objects(store: Store) -> None:
    """Write every kind of object into an initialised store (a few rows each)."""
    scenario.setup_bank_account(store)
    scenario.setup_external(store, "acme", "acme_payable")
    scenario.post_cash(store, [("erp:in-1", 100_00, date(2025, 3, 1), {"invoice": "INV-1"}),
                               ("erp:out-1", -25_00, date(2025, 3, 2), None),
                               ("erp:never-cleared", 7_00, date(2025, 3, 2), None)])
    scenario.load_lines(store, date(2025, 3, 3), [(date(2025, 3, 1), 100_00, "DEPOSIT"),
                                                  (date(2025, 3, 3), -25_00, "ACH OUT"),
                                                  (date(2025, 3, 3), -3_00, "BANK FEE")],
                        closing=72_00, opening=0, ref="st-1")
    with store.transaction() as conn:
        upsert_payment_orders(conn, [{
            "id": "po-1", "type": "ach", "direction": "credit", "amount": 40_00, "currency": "USD",
            "originating_account_id": "operating", "receiving_account_id": "acme", "status": "pending",
            "effective_date": "2025-03-04", "metadata": {"purpose": "invoice 42"}}])
        add_category(conn, "cash", "debit", accounts=(scenario.CASH,), currency="USD")
        add_category(conn, "revenue", "credit", accounts=(scenario.OTHER,), currency="USD")
        add_category(conn, "liabilities", "credit", accounts=("acme_payable",))
        add_category(conn, "balance_sheet", "debit", children=("cash", "liabilities"))
    run_reconciliation(store, as_of=date(2025, 3, 10))
    _quarantine_one(store)
