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
    EMPTY_JSON,
    METADATA,
    Money,
    Timestamp,
    change_seq,
    one_of,
    postgres_index,
)

SCHEMA_VERSION = 3  # 2: one-to-one matches keep their items on the match row; 3: statements carry control_warning

internal_accounts = Table(
    "internal_accounts", METADATA,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("account_identifier", Text, nullable=False, unique=True),
    Column("bank_name", Text),
    Column("currency", Text, nullable=False),
    Column("metadata", Text, nullable=False, server_default=EMPTY_JSON),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    change_seq(),
)

external_accounts = Table(
    "external_accounts", METADATA,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("account_identifier", Text),
    Column("party_name", Text),
    Column("currency", Text, nullable=False),
    Column("metadata", Text, nullable=False, server_default=EMPTY_JSON),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    change_seq(),
)

bank_statements = Table(
    "bank_statements", METADATA,
    Column("id", Text, primary_key=True),
    Column("internal_account_id", Text, nullable=False),
    Column("account_identifier", Text, nullable=False),
    Column("statement_date", Date, nullable=False),
    Column("opening_balance", Money),
    Column("closing_balance", Money),
    Column("currency", Text, nullable=False),
    Column("statement_ref", Text),
    Column("position", BigInteger, nullable=False, server_default=text("0")),
    Column("source_format", Text),
    Column("source_file", Text),
    Column("line_count", BigInteger, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    change_seq(),
    # the file's own controls that failed when it was taken on purpose (``verify=false``); NULL when none
    Column("control_warning", Text),
)

bank_statement_lines = Table(
    "bank_statement_lines", METADATA,
    Column("id", Text, nullable=False),
    Column("statement_id", Text, nullable=False),
    Column("internal_account_id", Text, nullable=False),
    Column("line_no", BigInteger, nullable=False),
    Column("line_date", Date, nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", Text, nullable=False),
    Column("type_code", Text),
    Column("bank_reference", Text),
    Column("customer_reference", Text),
    Column("text", Text),
    Column("created_at", Timestamp, nullable=False),
    change_seq(),
)

payment_orders = Table(
    "payment_orders", METADATA,
    Column("id", Text, primary_key=True),
    Column("type", Text),
    Column("direction", Text, one_of("direction", "credit", "debit"), nullable=False),
    Column("amount", Money, CheckConstraint("amount > 0"), nullable=False),
    Column("currency", Text, nullable=False),
    Column("originating_account_id", Text, nullable=False),
    Column("receiving_account_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("effective_date", Date, nullable=False),
    Column("description", Text),
    Column("ledger_transaction_id", Text),
    Column("metadata", Text, nullable=False, server_default=EMPTY_JSON),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    change_seq(),
)

recon_runs = Table(
    "recon_runs", METADATA,
    Column("id", Text, primary_key=True),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("as_of", Date, nullable=False),
    Column("window_days", Integer, nullable=False),
    Column("account_filter", Text),
    Column("summary", Text, nullable=False, server_default=EMPTY_JSON),
    change_seq(),
)

recon_balance_variances = Table(
    "recon_balance_variances", METADATA,
    Column("id", Text, primary_key=True),
    Column("internal_account_id", Text, nullable=False),
    Column("ledger_account_id", Text, nullable=False),
    Column("statement_id", Text, nullable=False),
    Column("statement_date", Date, nullable=False),
    Column("currency", Text, nullable=False),
    Column("ledger_balance", Money, nullable=False),
    Column("bank_balance", Money, nullable=False),
    Column("variance", Money, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("computed_at", Timestamp, nullable=False),
    change_seq(),
)

recon_matches = Table(
    "recon_matches", METADATA,
    Column("id", Text, nullable=False),
    Column("internal_account_id", Text, nullable=False),
    Column("ledger_account_id", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("match_key", Text),
    Column("bank_count", BigInteger, nullable=False),
    Column("ledger_count", BigInteger, nullable=False),
    Column("bank_total", Money, nullable=False),
    Column("ledger_total", Money, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("note", Text),
    Column("run_id", Text),
    Column("created_at", Timestamp, nullable=False),
    change_seq(),
    Column("bank_item_id", Text),
    Column("bank_item_date", Date),
    Column("ledger_item_id", Text),
    Column("ledger_item_date", Date),
)

recon_match_group_items = Table(
    "recon_match_group_items", METADATA,
    Column("match_id", Text, nullable=False),
    Column("side", Text, one_of("side", "bank", "ledger"), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("internal_account_id", Text, nullable=False),
    Column("ledger_account_id", Text, nullable=False),
    Column("item_date", Date, nullable=False),
    Column("amount", Money, nullable=False),
    change_seq(),
)

recon_unmatched = Table(
    "recon_unmatched", METADATA,
    Column("side", Text, one_of("side", "bank", "ledger"), nullable=False),
    Column("item_id", Text, nullable=False),
    Column("internal_account_id", Text, nullable=False),
    Column("ledger_account_id", Text, nullable=False),
    Column("item_date", Date, nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reference", Text),
    Column("description", Text),
    Column("reason", Text, nullable=False),
    Column("age_days", Integer, nullable=False),
    Column("as_of", Date, nullable=False),
    Column("status", Text, one_of("status", "open", "resolved"), nullable=False),
    Column("first_run_id", Text, nullable=False),
    Column("last_run_id", Text, nullable=False),
    Column("resolved_at", Timestamp),
    change_seq(),
    PrimaryKeyConstraint("side", "item_id", "ledger_account_id"),
)

processor_settlement_items = Table(
    "processor_settlement_items", METADATA,
    Column("id", Text, primary_key=True),
    Column("processor", Text, nullable=False),
    Column("settlement_id", Text, nullable=False),
    Column("record_type", Text, one_of("record_type", "payout", "item"), nullable=False),
    Column("object_id", Text),
    Column("source_type", Text),
    Column("amount", Money, nullable=False),
    Column("currency", Text, nullable=False),
    Column("occurred_at", Timestamp),
    Column("loaded_at", Timestamp, nullable=False),
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
