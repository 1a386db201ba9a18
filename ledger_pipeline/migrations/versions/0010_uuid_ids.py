"""Ledger ids become native UUIDs: the ids of ledgers, accounts, categories, transactions and entries, and
the columns of the core ledger that point at them, go from TEXT to UUID (16 bytes instead of 36 characters).

Each stored id is converted in place, in the one transaction of the upgrade:

* an id that is a UUID in its canonical text form (8-4-4-4-12 hex digits, in any case) becomes that UUID;
* any other id (``ldg_main``, ``acct_1``: stores and tests of older releases) becomes the UUID whose 32 hex
  digits are the md5 of ``ledger-pipeline:`` followed by the id (``id_as_uuid``). The same text always
  maps to the same UUID, so every column that refers to an id gets the value of the row it refers to.

The text columns elsewhere that hold these ids (reconciliation's ledger accounts and ledger items, payment
orders' ledger transactions, the audit log's and events' objects of the ledger's kinds) keep their type and
take the new id's canonical (lower-case) text, so that they still join the ledger's rows.

PostgreSQL changes each column's type with ``ALTER TABLE ... ALTER COLUMN ... TYPE uuid USING``, which keeps
the indexes and constraints (one rewrite per table). DuckDB cannot change the type of a column under a
PRIMARY KEY or UNIQUE constraint: those tables are rebuilt (the old one renamed, the new one created with the
frozen DDL ``DUCKDB_TABLES``, the rows copied converted, the old one dropped); the transactions and entries,
which carry no constraint there, are altered in place.

Two ids that would become one UUID (``0190A1B2-…`` and ``0190a1b2-…`` in one table: the same UUID in two cases)
would make two rows one id. The upgrade refuses such a store before any revision runs
(``refuse_before_upgrade``, ``IdsWouldMerge``: exit code 1), naming the table and both ids; the store is left
as it was.

PostgreSQL also gives the check constraint of ``recon_match_group_items`` the name a new store's has: the
table renamed by revision 0004 kept its ``recon_match_items_side_check``.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger_pipeline.ledger.errors import LedgerError
from ledger_pipeline.migrations.steps import never_downgrade, on_postgres

revision = "0010"
down_revision = "0009"

# A UUID in its canonical text form, in any case; the same as lower case only (a value already in the form
# the store writes, which the conversion leaves as it is).
UUID_TEXT = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
CANONICAL_UUID_TEXT = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

# The retyped columns of each table, in the order the tables are converted.
ID_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ledgers", ("id",)),
    ("ledger_accounts", ("id", "ledger_id")),
    ("ledger_account_categories", ("id", "ledger_id")),
    ("ledger_account_category_accounts", ("category_id", "ledger_account_id")),
    ("ledger_account_category_children", ("parent_category_id", "child_category_id")),
    ("ledger_account_balances", ("ledger_account_id",)),
    ("ledger_transactions", ("id", "ledger_id", "reverses_id")),
    ("ledger_entries", ("id", "ledger_transaction_id", "ledger_account_id")),
)

# DuckDB: the tables whose retyped columns are under a PRIMARY KEY or UNIQUE constraint, as they are created
# at this revision (rebuilt); the others of ID_COLUMNS are altered in place.
DUCKDB_TABLES = {
    "ledgers": """
CREATE TABLE ledgers (
    id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    metadata TEXT DEFAULT '{}' NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
)""",
    "ledger_accounts": """
CREATE TABLE ledger_accounts (
    id UUID NOT NULL,
    ledger_id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    normal_balance TEXT NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
    currency TEXT NOT NULL,
    currency_exponent INTEGER NOT NULL CHECK (currency_exponent BETWEEN 0 AND 30),
    metadata TEXT DEFAULT '{}' NOT NULL,
    ledgerable_type TEXT,
    ledgerable_id TEXT,
    min_available_balance NUMERIC(38, 0),
    max_available_balance NUMERIC(38, 0),
    archived_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (ledger_id, name)
)""",
    "ledger_account_categories": """
CREATE TABLE ledger_account_categories (
    id UUID NOT NULL,
    ledger_id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    normal_balance TEXT NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
    currency TEXT,
    metadata TEXT DEFAULT '{}' NOT NULL,
    archived_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (ledger_id, name)
)""",
    "ledger_account_category_accounts": """
CREATE TABLE ledger_account_category_accounts (
    category_id UUID NOT NULL,
    ledger_account_id UUID NOT NULL,
    removed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (category_id, ledger_account_id)
)""",
    "ledger_account_category_children": """
CREATE TABLE ledger_account_category_children (
    parent_category_id UUID NOT NULL,
    child_category_id UUID NOT NULL,
    removed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (parent_category_id, child_category_id)
)""",
    "ledger_account_balances": """
CREATE TABLE ledger_account_balances (
    ledger_account_id UUID NOT NULL,
    posted_debits NUMERIC(38, 0) DEFAULT 0 NOT NULL,
    posted_credits NUMERIC(38, 0) DEFAULT 0 NOT NULL,
    pending_debits NUMERIC(38, 0) DEFAULT 0 NOT NULL,
    pending_credits NUMERIC(38, 0) DEFAULT 0 NOT NULL,
    lock_version BIGINT DEFAULT 0 NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (ledger_account_id)
)""",
}

# The text columns that hold these ids (they stay TEXT): (table, columns always holding one, the column
# holding one on the rows where the condition holds, that condition).
LEDGER_OBJECT_TYPES = "('ledger', 'ledger_account', 'ledger_account_category', 'ledger_transaction', 'ledger_entry')"
TEXT_REFERENCES: tuple[tuple[str, tuple[str, ...], str | None, str | None], ...] = (
    ("audit_log", (), "object_id", f"object_type IN {LEDGER_OBJECT_TYPES}"),
    ("events", (), "object_id", f"object_type IN {LEDGER_OBJECT_TYPES}"),
    ("payment_orders", ("ledger_transaction_id",), None, None),
    ("recon_balance_variances", ("ledger_account_id",), None, None),
    ("recon_matches", ("ledger_account_id", "ledger_item_id"), None, None),
    # a ledger item's id is its transaction's (side 'ledger'); a bank item's is a statement line's
    ("recon_match_group_items", ("ledger_account_id",), "item_id", "side = 'ledger'"),
    ("recon_unmatched", ("ledger_account_id",), "item_id", "side = 'ledger'"),
)


# PostgreSQL: the check constraint that revision 0004's rename of recon_match_items left under its old name
MATCH_ITEMS_CHECK_NAME = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = CAST('recon_match_group_items' AS regclass)
               AND conname = 'recon_match_items_side_check') THEN
        ALTER TABLE recon_match_group_items RENAME CONSTRAINT recon_match_items_side_check
            TO recon_match_group_items_side_check;
    END IF;
END
$$"""


def id_as_uuid(column: str) -> str:
    """The UUID of the text id in ``column`` (both engines; NULL stays NULL)."""
    return (f"CASE WHEN {column} ~ '{UUID_TEXT}' THEN CAST({column} AS UUID) "
            f"ELSE CAST(md5('ledger-pipeline:' || {column}) AS UUID) END")


# The tables whose ``id`` identifies a row; every other retyped column refers to one of them.
KEY_TABLES = ("ledgers", "ledger_accounts", "ledger_account_categories", "ledger_transactions", "ledger_entries")


class IdsWouldMerge(LedgerError):
    """Two rows' text ids become the same UUID; nothing is converted."""


def merging_ids(table: str) -> str:
    """Two distinct ids of ``table`` that would become one UUID, if any. Only an id not in canonical form can
    meet another (distinct canonical texts are distinct UUIDs), so only those ids' UUIDs are grouped."""
    uuid_of = id_as_uuid("id")
    return (f"SELECT min(id), max(id) FROM {table} WHERE {uuid_of} IN "
            f"(SELECT {uuid_of} FROM {table} WHERE {not_canonical('id')}) "
            f"GROUP BY {uuid_of} HAVING count(DISTINCT id) > 1 ORDER BY 1 LIMIT 1")


def refuse_before_upgrade(conn: sa.Connection) -> None:
    """``IdsWouldMerge`` for the first table (``KEY_TABLES`` order; those the store has yet) where two ids
    would become one UUID. Run by ``migrations.upgrade`` before the store's first pending revision."""
    inspector = sa.inspect(conn)
    for table in KEY_TABLES:
        if not inspector.has_table(table):  # categories: created empty by a revision still to run
            continue
        pair = conn.exec_driver_sql(merging_ids(table)).first()
        if pair is not None:
            raise IdsWouldMerge(
                f"{table}: ids {pair[0]!r} and {pair[1]!r} would become the same UUID (a UUID's text is read in "
                "any case); nothing was converted. Give one of the two rows another id, and the rows that refer "
                "to it, then run `ledger-pipeline migrate` again")


def id_as_text(column: str) -> str:
    """The canonical text of the id's UUID (what the store's UUID columns read back as)."""
    return f"CAST({id_as_uuid(column)} AS TEXT)"


def not_canonical(column: str) -> str:
    return f"NOT ({column} ~ '{CANONICAL_UUID_TEXT}')"


def text_reference_update(table: str, columns: tuple[str, ...], conditional: str | None,
                          condition: str | None) -> str:
    """One UPDATE of a table's text references, of the rows holding an id not already in canonical form."""
    sets = [f"{column} = {id_as_text(column)}" for column in columns]
    changed = [not_canonical(column) for column in columns]
    if conditional is not None:
        changed.append(f"({condition} AND {not_canonical(conditional)})")
        sets.append(f"{conditional} = CASE WHEN {condition} THEN {id_as_text(conditional)} ELSE {conditional} END"
                    if columns else f"{conditional} = {id_as_text(conditional)}")  # (else: only such rows)
    return f"UPDATE {table} SET {', '.join(sets)} WHERE {' OR '.join(changed)}"


def upgrade() -> None:
    postgres = on_postgres()
    for table, columns in ID_COLUMNS:
        if postgres:  # one rewrite of the table; its indexes and constraints are kept (and rebuilt)
            op.execute(f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {column} TYPE UUID USING {id_as_uuid(column)}" for column in columns))
        elif table in DUCKDB_TABLES:
            old = f"{table}_text_ids"
            op.execute(f"ALTER TABLE {table} RENAME TO {old}")
            op.execute(DUCKDB_TABLES[table].strip())
            replaced = ", ".join(f"{id_as_uuid(column)} AS {column}" for column in columns)
            op.execute(f"INSERT INTO {table} BY NAME SELECT * REPLACE ({replaced}) FROM {old}")
            op.execute(f"DROP TABLE {old}")
        else:
            for column in columns:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE UUID USING {id_as_uuid(column)}")
    for reference in TEXT_REFERENCES:
        op.execute(text_reference_update(*reference))
    if postgres:
        op.execute(MATCH_ITEMS_CHECK_NAME.strip())


downgrade = never_downgrade
