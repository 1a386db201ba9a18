"""Reconciliation tables, one DDL for DuckDB and PostgreSQL (created by ``ledger-pipeline init``).

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
"""

from __future__ import annotations

from ledger_pipeline.ledger.store import Connection

SCHEMA_VERSION = 2  # 2: one-to-one matches keep their items on the match row

_TABLES = """
CREATE TABLE IF NOT EXISTS internal_accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    account_identifier TEXT NOT NULL UNIQUE,
    bank_name TEXT,
    currency TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS external_accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    account_identifier TEXT,
    party_name TEXT,
    currency TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS bank_statements (
    id TEXT PRIMARY KEY,
    internal_account_id TEXT NOT NULL,
    account_identifier TEXT NOT NULL,
    statement_date DATE NOT NULL,
    opening_balance NUMERIC(38,0),
    closing_balance NUMERIC(38,0),
    currency TEXT NOT NULL,
    statement_ref TEXT,
    position BIGINT NOT NULL DEFAULT 0,
    source_format TEXT,
    source_file TEXT,
    line_count BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL,
    control_warning TEXT
);

CREATE TABLE IF NOT EXISTS bank_statement_lines (
    id TEXT NOT NULL,
    statement_id TEXT NOT NULL,
    internal_account_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    line_date DATE NOT NULL,
    amount NUMERIC(38,0) NOT NULL,
    currency TEXT NOT NULL,
    type_code TEXT,
    bank_reference TEXT,
    customer_reference TEXT,
    text TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS payment_orders (
    id TEXT PRIMARY KEY,
    type TEXT,
    direction TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount NUMERIC(38,0) NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    originating_account_id TEXT NOT NULL,
    receiving_account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    effective_date DATE NOT NULL,
    description TEXT,
    ledger_transaction_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS recon_runs (
    id TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    as_of DATE NOT NULL,
    window_days INTEGER NOT NULL,
    account_filter TEXT,
    summary TEXT NOT NULL DEFAULT '{}',
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS recon_balance_variances (
    id TEXT PRIMARY KEY,
    internal_account_id TEXT NOT NULL,
    ledger_account_id TEXT NOT NULL,
    statement_id TEXT NOT NULL,
    statement_date DATE NOT NULL,
    currency TEXT NOT NULL,
    ledger_balance NUMERIC(38,0) NOT NULL,
    bank_balance NUMERIC(38,0) NOT NULL,
    variance NUMERIC(38,0) NOT NULL,
    run_id TEXT NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS recon_matches (
    id TEXT NOT NULL,
    internal_account_id TEXT NOT NULL,
    ledger_account_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    match_key TEXT,
    bank_count BIGINT NOT NULL,
    ledger_count BIGINT NOT NULL,
    bank_total NUMERIC(38,0) NOT NULL,
    ledger_total NUMERIC(38,0) NOT NULL,
    created_by TEXT NOT NULL,
    note TEXT,
    run_id TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL,
    bank_item_id TEXT,
    bank_item_date DATE,
    ledger_item_id TEXT,
    ledger_item_date DATE
);

CREATE TABLE IF NOT EXISTS recon_match_group_items (
    match_id TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('bank', 'ledger')),
    item_id TEXT NOT NULL,
    internal_account_id TEXT NOT NULL,
    ledger_account_id TEXT NOT NULL,
    item_date DATE NOT NULL,
    amount NUMERIC(38,0) NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS recon_unmatched (
    side TEXT NOT NULL CHECK (side IN ('bank', 'ledger')),
    item_id TEXT NOT NULL,
    internal_account_id TEXT NOT NULL,
    ledger_account_id TEXT NOT NULL,
    item_date DATE NOT NULL,
    amount NUMERIC(38,0) NOT NULL,
    currency TEXT NOT NULL,
    reference TEXT,
    description TEXT,
    reason TEXT NOT NULL,
    age_days INTEGER NOT NULL,
    as_of DATE NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    first_run_id TEXT NOT NULL,
    last_run_id TEXT NOT NULL,
    resolved_at TIMESTAMPTZ,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (side, item_id, ledger_account_id)
);

CREATE TABLE IF NOT EXISTS processor_settlement_items (
    id TEXT PRIMARY KEY,
    processor TEXT NOT NULL,
    settlement_id TEXT NOT NULL,
    record_type TEXT NOT NULL CHECK (record_type IN ('payout', 'item')),
    object_id TEXT,
    source_type TEXT,
    amount NUMERIC(38,0) NOT NULL,
    currency TEXT NOT NULL,
    occurred_at TIMESTAMPTZ,
    loaded_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
)
"""

_POSTGRES_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS bank_statement_lines_pk ON bank_statement_lines (id);
CREATE INDEX IF NOT EXISTS bank_statement_lines_account ON bank_statement_lines (internal_account_id, line_date);
CREATE INDEX IF NOT EXISTS bank_statements_account ON bank_statements (internal_account_id, statement_date);
CREATE UNIQUE INDEX IF NOT EXISTS recon_matches_pk ON recon_matches (id);
CREATE INDEX IF NOT EXISTS recon_matches_account ON recon_matches (ledger_account_id);
CREATE UNIQUE INDEX IF NOT EXISTS recon_match_items_pk ON recon_match_group_items (match_id, side, item_id);
CREATE INDEX IF NOT EXISTS recon_match_items_item ON recon_match_group_items (side, item_id, ledger_account_id);
CREATE INDEX IF NOT EXISTS recon_matches_bank_item ON recon_matches (bank_item_id);
CREATE INDEX IF NOT EXISTS recon_matches_ledger_item ON recon_matches (ledger_item_id);
CREATE INDEX IF NOT EXISTS recon_unmatched_status ON recon_unmatched (status, internal_account_id);
CREATE INDEX IF NOT EXISTS payment_orders_status ON payment_orders (status);
CREATE INDEX IF NOT EXISTS processor_settlement_items_settlement ON processor_settlement_items (processor, settlement_id)
"""


# Every item of every match, in the shape of one row per item (what the warehouse exports and reports read).
_MATCH_ITEMS_VIEW = """
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


def _table_type(conn: Connection, name: str) -> str | None:
    return conn.scalar("SELECT table_type FROM information_schema.tables WHERE table_name = :name "
                       "AND table_schema = current_schema()", {"name": name})


def _migrate_match_items(conn: Connection) -> None:
    """Stores made before compact matches have ``recon_match_items`` as a table of every item: it becomes
    ``recon_match_group_items`` (its rows stay valid: those matches have no items on their own row)."""
    if _table_type(conn, "recon_match_items") == "BASE TABLE":
        conn.execute("ALTER TABLE recon_match_items RENAME TO recon_match_group_items")
    for column, kind in (("bank_item_id", "TEXT"), ("bank_item_date", "DATE"), ("ledger_item_id", "TEXT"),
                         ("ledger_item_date", "DATE")):
        conn.execute(f"ALTER TABLE recon_matches ADD COLUMN IF NOT EXISTS {column} {kind}")


def create_reconcile_schema(conn: Connection) -> None:
    """Create the reconciliation tables if they are missing. Safe to run any number of times."""
    if _table_type(conn, "recon_matches"):
        _migrate_match_items(conn)
    conn.execute_script(_TABLES)
    # a statement taken although its file's own controls failed is flagged (stores made before the flag)
    conn.execute("ALTER TABLE bank_statements ADD COLUMN IF NOT EXISTS control_warning TEXT")
    if _table_type(conn, "recon_match_items") is None:
        conn.execute(_MATCH_ITEMS_VIEW)
    if conn.is_postgres:
        conn.execute_script(_POSTGRES_INDEXES)
    conn.execute(
        "INSERT INTO schema_info (component, version) VALUES ('reconcile', :v) ON CONFLICT (component) "
        "DO UPDATE SET version = EXCLUDED.version",
        {"v": SCHEMA_VERSION},
    )
