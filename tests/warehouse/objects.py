"""A store holding one or more of every ledger object the warehouse publishes beyond transactions: internal
and external accounts linked to ledger accounts, a bank statement and its lines, payment orders, a
reconciliation run (matches, unmatched items, a variance), a quarantined record, the audit log, and
categories with their accounts and a nested category (rows written directly: the tables are the contract)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pyarrow as pa

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
    now, seq = datetime.now(UTC), conn.change_seq()
    ledger_id = conn.scalar("SELECT id FROM ledgers WHERE name = :name", {"name": ledger})
    category_id = f"lac_{uuid.uuid4().hex[:12]}"
    conn.execute(
        "INSERT INTO ledger_account_categories (id, ledger_id, name, normal_balance, currency, created_at, "
        "updated_at, change_seq) VALUES (:id, :ledger, :name, :nb, :currency, :now, :now, :seq)",
        {"id": category_id, "ledger": ledger_id, "name": name, "nb": normal_balance, "currency": currency,
         "now": now, "seq": seq})
    for account in accounts:
        account_id = conn.scalar("SELECT id FROM ledger_accounts WHERE ledger_id = :ledger AND name = :name",
                                 {"ledger": ledger_id, "name": account})
        assert account_id, account
        conn.execute(
            "INSERT INTO ledger_account_category_accounts (category_id, ledger_account_id, created_at, updated_at, "
            "change_seq) VALUES (:c, :a, :now, :now, :seq)", {"c": category_id, "a": account_id, "now": now,
                                                               "seq": seq})
    for child in children:
        child_id = conn.scalar("SELECT id FROM ledger_account_categories WHERE ledger_id = :ledger AND name = :name",
                               {"ledger": ledger_id, "name": child})
        assert child_id, child
        conn.execute(
            "INSERT INTO ledger_account_category_children (parent_category_id, child_category_id, created_at, "
            "updated_at, change_seq) VALUES (:p, :c, :now, :now, :seq)", {"p": category_id, "c": child_id,
                                                                           "now": now, "seq": seq})
    return category_id


def remove_from_category(conn: Connection, category: str, account: str) -> None:
    """End an account's membership of a category (the row stays, with ``removed_at``)."""
    now = datetime.now(UTC)
    conn.execute(
        "UPDATE ledger_account_category_accounts SET removed_at = :now, updated_at = :now, change_seq = :seq "
        "WHERE category_id = (SELECT id FROM ledger_account_categories WHERE name = :category) AND "
        "ledger_account_id = (SELECT id FROM ledger_accounts WHERE name = :account)",
        {"now": now, "seq": conn.change_seq(), "category": category, "account": account})


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
