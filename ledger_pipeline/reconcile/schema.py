"""Reconciliation tables, part of the store's one metadata (created by ``ledger-pipeline init``).

* Internal accounts are the company's bank accounts, external accounts its counterparties'. A ledger
  account is linked to one of them through its ``ledgerable_type`` (``internal_account`` |
  ``external_account``) and ``ledgerable_id``, as in Modern Treasury.
* Bank statements and their lines are stored as the bank reported them (a statement without a closing
  balance, e.g. a BAI2 file without a 015 code, still brings its lines for matching; it has no variance): amounts signed from the account
  holder's side (a credit to the bank account, money in, is positive), exact integers of minor units.
* Matches are groups: ``recon_matches`` holds one row per group with the rule that made it, and
  ``recon_match_items`` (a view) one row per bank line or ledger item in it. A ledger item is one ledger
  transaction's net movement on one linked ledger account, so its key is (``ledger_account_id``,
  ``item_id`` = the ledger transaction id). Storage is compact because one-to-one matches are nearly all
  of them: such a match keeps its two items on its own row (``bank_item_id``/``bank_item_date``,
  ``ledger_item_id``/``ledger_item_date``; the amounts are ``bank_total``/``ledger_total``), and only the
  items of the other matches are rows of ``recon_match_group_items``. The view presents both as before,
  so readers (the warehouse sync, reports) see one shape. Writing a million pairs as three million rows
  of text ids was most of the time of a large run.
* ``recon_unmatched`` is the exceptions list: one row per item that a run left unmatched, ``open`` until a
  later run (or a manual match) resolves it. Rows are updated in place, never deleted, so the warehouse
  sync sees every change through ``change_seq``.
* Like the core, the big tables (statement lines, matches and their items) carry no index on DuckDB (bulk loads stay fast; the store has one writer);
  PostgreSQL gets the indexes its concurrent readers and writers need.
* ``recon_match_items`` is a view, which metadata does not express: ``MATCH_ITEMS_VIEW`` is its DDL. Stores
  made before compact matches (where it was a table of every item) are upgraded by migration ``0004``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)

from ledger_pipeline.ledger.schema import (
    METADATA,
    Money,
    Timestamp,
    change_seq,
    created_columns,
    json_text,
    one_of,
    postgres_index,
    required,
    text_id,
    updated_columns,
)

SCHEMA_VERSION = 3  # 2: one-to-one matches keep their items on the match row; 3: statements carry control_warning


def item_columns() -> tuple[Column, ...]:
    """One bank line or ledger item, as a match group and the exceptions list both key and describe it."""
    return (
        required("side", Text, one_of("side", "bank", "ledger")),
        required("item_id"),
        required("internal_account_id"),
        required("ledger_account_id"),
        required("item_date", Date),
        required("amount", Money),
    )


internal_accounts = Table(
    "internal_accounts", METADATA,
    text_id(),
    Column("name", Text, nullable=False, unique=True),
    Column("account_identifier", Text, nullable=False, unique=True),
    Column("bank_name", Text),
    required("currency"),
    json_text(),
    *updated_columns(),
)

external_accounts = Table(
    "external_accounts", METADATA,
    text_id(),
    Column("name", Text, nullable=False, unique=True),
    Column("account_identifier", Text),
    Column("party_name", Text),
    required("currency"),
    json_text(),
    *updated_columns(),
)

bank_statements = Table(
    "bank_statements", METADATA,
    text_id(),
    required("internal_account_id"),
    required("account_identifier"),
    required("statement_date", Date),
    Column("opening_balance", Money),
    Column("closing_balance", Money),
    required("currency"),
    Column("statement_ref", Text),
    Column("position", BigInteger, nullable=False, server_default=text("0")),
    Column("source_format", Text),
    Column("source_file", Text),
    required("line_count", BigInteger),
    *created_columns(),
    # the file's own controls that failed when it was taken on purpose (``verify=false``); NULL when none
    Column("control_warning", Text),
)

bank_statement_lines = Table(
    "bank_statement_lines", METADATA,
    required("id"),
    required("statement_id"),
    required("internal_account_id"),
    required("line_no", BigInteger),
    required("line_date", Date),
    required("amount", Money),
    required("currency"),
    Column("type_code", Text),
    Column("bank_reference", Text),
    Column("customer_reference", Text),
    Column("text", Text),
    *created_columns(),
)

payment_orders = Table(
    "payment_orders", METADATA,
    text_id(),
    Column("type", Text),
    required("direction", Text, one_of("direction", "credit", "debit")),
    required("amount", Money, CheckConstraint("amount > 0")),
    required("currency"),
    required("originating_account_id"),
    required("receiving_account_id"),
    required("status"),
    required("effective_date", Date),
    Column("description", Text),
    Column("ledger_transaction_id", Text),
    json_text(),
    *updated_columns(),
)

recon_runs = Table(
    "recon_runs", METADATA,
    text_id(),
    required("started_at", Timestamp),
    Column("finished_at", Timestamp),
    required("as_of", Date),
    required("window_days", Integer),
    Column("account_filter", Text),
    json_text("summary"),
    change_seq(),
)

recon_balance_variances = Table(
    "recon_balance_variances", METADATA,
    text_id(),
    required("internal_account_id"),
    required("ledger_account_id"),
    required("statement_id"),
    required("statement_date", Date),
    required("currency"),
    required("ledger_balance", Money),
    required("bank_balance", Money),
    required("variance", Money),
    required("run_id"),
    required("computed_at", Timestamp),
    change_seq(),
)

recon_matches = Table(
    "recon_matches", METADATA,
    required("id"),
    required("internal_account_id"),
    required("ledger_account_id"),
    required("rule"),
    Column("match_key", Text),
    required("bank_count", BigInteger),
    required("ledger_count", BigInteger),
    required("bank_total", Money),
    required("ledger_total", Money),
    required("created_by"),
    Column("note", Text),
    Column("run_id", Text),
    *created_columns(),
    Column("bank_item_id", Text),
    Column("bank_item_date", Date),
    Column("ledger_item_id", Text),
    Column("ledger_item_date", Date),
)

recon_match_group_items = Table(
    "recon_match_group_items", METADATA,
    required("match_id"),
    *item_columns(),
    change_seq(),
)

recon_unmatched = Table(
    "recon_unmatched", METADATA,
    *item_columns(),
    required("currency"),
    Column("reference", Text),
    Column("description", Text),
    required("reason"),
    required("age_days", Integer),
    required("as_of", Date),
    required("status", Text, one_of("status", "open", "resolved")),
    required("first_run_id"),
    required("last_run_id"),
    Column("resolved_at", Timestamp),
    change_seq(),
    PrimaryKeyConstraint("side", "item_id", "ledger_account_id"),
)

processor_settlement_items = Table(
    "processor_settlement_items", METADATA,
    text_id(),
    required("processor"),
    required("settlement_id"),
    required("record_type", Text, one_of("record_type", "payout", "item")),
    Column("object_id", Text),
    Column("source_type", Text),
    required("amount", Money),
    required("currency"),
    Column("occurred_at", Timestamp),
    required("loaded_at", Timestamp),
    change_seq(),
)

postgres_index("bank_statement_lines_pk", bank_statement_lines, "id", unique=True)
postgres_index("bank_statement_lines_account", bank_statement_lines, "internal_account_id", "line_date")
postgres_index("bank_statements_account", bank_statements, "internal_account_id", "statement_date")
postgres_index("recon_matches_pk", recon_matches, "id", unique=True)
postgres_index("recon_matches_account", recon_matches, "ledger_account_id")
postgres_index("recon_match_items_pk", recon_match_group_items, "match_id", "side", "item_id", unique=True)
postgres_index("recon_match_items_item", recon_match_group_items, "side", "item_id", "ledger_account_id")
postgres_index("recon_matches_bank_item", recon_matches, "bank_item_id")
postgres_index("recon_matches_ledger_item", recon_matches, "ledger_item_id")
postgres_index("recon_unmatched_status", recon_unmatched, "status", "internal_account_id")
postgres_index("payment_orders_status", payment_orders, "status")
postgres_index("processor_settlement_items_settlement", processor_settlement_items, "processor", "settlement_id")

# Every item of every match, in the shape of one row per item (what the warehouse exports and reports read).
MATCH_ITEMS_VIEW = """
CREATE VIEW recon_match_items AS
SELECT match_id, side, item_id, internal_account_id, ledger_account_id, item_date, amount, change_seq
FROM recon_match_group_items
UNION ALL
SELECT id, 'bank', bank_item_id, internal_account_id, ledger_account_id, bank_item_date, bank_total, change_seq
FROM recon_matches WHERE bank_item_id IS NOT NULL
UNION ALL
SELECT id, 'ledger', ledger_item_id, internal_account_id, ledger_account_id, ledger_item_date, ledger_total, change_seq
FROM recon_matches WHERE ledger_item_id IS NOT NULL
"""
