"""The core ledger's tables, defined once as SQLAlchemy Core metadata and rendered for each engine.

Choices worth knowing:

* Amounts are ``NUMERIC(38,0)``: exact integers of minor units, up to 38 digits, never float.
* JSON (``metadata``, ``raw_payload``) is stored as text holding a JSON document, the same on both engines.
* Every row carries ``change_seq``: the position of the write that last touched it (see
  ``Connection.change_seq``). The warehouse sync reads rows past its acknowledged position.
* Balances live in ``ledger_account_balances`` (one row per account) and are updated in the same database
  transaction as the entries that move them. ``pending_*`` include posted entries, as in Modern Treasury.
* On DuckDB the large tables (transactions, entries) carry no index: DuckDB's ART indexes slow bulk inserts
  several-fold, the store has one writer, and uniqueness of ``external_id`` is enforced by rule 5 in the
  same transaction. PostgreSQL, where many writers race, enforces it with a unique index as well: such
  indexes are declared with ``postgres_index`` (rendered for the ``postgresql`` dialect only).

``METADATA`` holds every table of the store: the ingest and reconciliation packages add theirs to it. A
store is created from it and upgraded by the versioned migrations in ``ledger_pipeline.migrations``; a
change here needs a new revision there (``tests/ledger/test_migrations.py`` compares the two catalogs).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

SCHEMA_VERSION = 1  # the component's version in ``schema_info`` (kept for stores and readers that use it)

METADATA = MetaData()

Money = Numeric(38, 0)
# Ledger object ids (ledgers, accounts, categories, transactions, entries and the columns that point at them):
# native UUIDs, 16 bytes instead of 36 characters; read back in their canonical text form (see ``Id`` users).
Id = Uuid(as_uuid=False)
Timestamp = DateTime(timezone=True)
EMPTY_JSON = text("'{}'")


def postgres_index(name: str, table: Table, *columns: str, unique: bool = False) -> Index:
    """An index that only PostgreSQL gets (see the module docstring for why DuckDB's tables have none)."""
    index = Index(name, *(table.c[c] for c in columns), unique=unique, info={"only_on": "postgresql"})
    return index.ddl_if(dialect="postgresql")


def change_seq() -> Column:
    return Column("change_seq", BigInteger, nullable=False)


def text_id() -> Column:
    """The table's own text id, its primary key."""
    return Column("id", Text, primary_key=True)


def uuid_id() -> Column:
    """The table's own UUID id, its primary key."""
    return Column("id", Id, primary_key=True)


def required(name: str, type_=Text, *args) -> Column:
    return Column(name, type_, *args, nullable=False)


def json_text(name: str = "metadata") -> Column:
    """A JSON document stored as text, ``{}`` when not given."""
    return Column(name, Text, nullable=False, server_default=EMPTY_JSON)


def created_columns() -> tuple[Column, Column]:
    """``created_at`` and ``change_seq``: the tail of a row that is written once."""
    return required("created_at", Timestamp), change_seq()


def updated_columns() -> tuple[Column, Column, Column]:
    """``created_at``, ``updated_at`` and ``change_seq``: the tail of a row that is updated in place."""
    return required("created_at", Timestamp), required("updated_at", Timestamp), change_seq()


def one_of(column: str, *values: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})")


LEDGER_CHANGE_SEQ = Sequence("ledger_change_seq", start=1, metadata=METADATA)

ledgers = Table(
    "ledgers", METADATA,
    uuid_id(),
    Column("name", Text, nullable=False, unique=True),
    Column("description", Text),
    json_text(),
    *updated_columns(),
)

ledger_accounts = Table(
    "ledger_accounts", METADATA,
    uuid_id(),
    required("ledger_id", Id),
    required("name"),
    Column("description", Text),
    required("normal_balance", Text, one_of("normal_balance", "credit", "debit")),
    required("currency"),
    required("currency_exponent", Integer, CheckConstraint("currency_exponent BETWEEN 0 AND 30")),
    json_text(),
    Column("ledgerable_type", Text),
    Column("ledgerable_id", Text),
    Column("min_available_balance", Money),
    Column("max_available_balance", Money),
    Column("archived_at", Timestamp),
    *updated_columns(),
    UniqueConstraint("ledger_id", "name"),
)

# Categories, as in Modern Treasury Ledgers: a category holds ledger accounts and other categories, an account
# may sit in several, and balances roll up through the hierarchy. Memberships are never deleted: removing one
# sets ``removed_at``, so the warehouse sync (which reads rows by ``change_seq``) sees the removal too.
ledger_account_categories = Table(
    "ledger_account_categories", METADATA,
    uuid_id(),
    required("ledger_id", Id),
    required("name"),
    Column("description", Text),
    required("normal_balance", Text, one_of("normal_balance", "credit", "debit")),
    Column("currency", Text),
    json_text(),
    Column("archived_at", Timestamp),
    *updated_columns(),
    UniqueConstraint("ledger_id", "name"),
)

ledger_account_category_accounts = Table(
    "ledger_account_category_accounts", METADATA,
    Column("category_id", Id, primary_key=True),
    Column("ledger_account_id", Id, primary_key=True),
    Column("removed_at", Timestamp),
    *updated_columns(),
)

ledger_account_category_children = Table(
    "ledger_account_category_children", METADATA,
    Column("parent_category_id", Id, primary_key=True),
    Column("child_category_id", Id, primary_key=True),
    Column("removed_at", Timestamp),
    *updated_columns(),
)

ledger_account_balances = Table(
    "ledger_account_balances", METADATA,
    Column("ledger_account_id", Id, primary_key=True),
    Column("posted_debits", Money, nullable=False, server_default=text("0")),
    Column("posted_credits", Money, nullable=False, server_default=text("0")),
    Column("pending_debits", Money, nullable=False, server_default=text("0")),
    Column("pending_credits", Money, nullable=False, server_default=text("0")),
    Column("lock_version", BigInteger, nullable=False, server_default=text("0")),
    required("updated_at", Timestamp),
    change_seq(),
)

ledger_transactions = Table(
    "ledger_transactions", METADATA,
    required("id", Id),
    required("ledger_id", Id),
    required("external_id"),
    required("status", Text, one_of("status", "pending", "posted", "archived")),
    Column("description", Text),
    required("effective_at", Timestamp),
    Column("posted_at", Timestamp),
    Column("archived_at", Timestamp),
    required("created_at", Timestamp),
    required("updated_at", Timestamp),
    Column("source", Text),
    Column("ledgerable_type", Text),
    Column("ledgerable_id", Text),
    Column("reverses_id", Id),
    json_text(),
    required("payload_hash"),
    Column("batch_id", Text),
    Column("version", Integer, nullable=False, server_default=text("1")),
    change_seq(),
)

ledger_entries = Table(
    "ledger_entries", METADATA,
    required("id", Id),
    required("ledger_transaction_id", Id),
    required("ledger_account_id", Id),
    required("direction", Text, one_of("direction", "debit", "credit")),
    required("amount", Money, CheckConstraint("amount > 0")),
    required("currency"),
    required("status"),
    required("effective_at", Timestamp),
    *created_columns(),
)

quarantine = Table(
    "quarantine", METADATA,
    text_id(),
    Column("batch_id", Text),
    Column("source", Text),
    Column("ledger_name", Text),
    Column("external_id", Text),
    required("reason_code"),
    required("reason"),
    Column("record_ref", Text),
    required("raw_payload"),
    Column("status", Text, one_of("status", "open", "replayed", "discarded"), nullable=False,
           server_default=text("'open'")),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    required("created_at", Timestamp),
    Column("resolved_at", Timestamp),
    Column("resolution", Text),
    change_seq(),
)

audit_log = Table(
    "audit_log", METADATA,
    text_id(),
    required("occurred_at", Timestamp),
    required("actor"),
    required("action"),
    required("object_type"),
    Column("object_id", Text),
    Column("request_hash", Text),
    json_text("detail"),
    change_seq(),
)

events = Table(
    "events", METADATA,
    text_id(),
    required("event_type"),
    required("object_type"),
    required("object_id"),
    json_text("data"),
    *created_columns(),
)

# Each component's version, as stores made before Alembic revisions recorded it (``migrate`` reads it to
# find the revision of such a store; some readers check that a component is installed).
schema_info = Table(
    "schema_info", METADATA,
    Column("component", Text, primary_key=True),
    required("version", Integer),
)

postgres_index("ledger_transactions_pk", ledger_transactions, "id", unique=True)
postgres_index("ledger_transactions_external_id", ledger_transactions, "ledger_id", "external_id", unique=True)
postgres_index("ledger_transactions_change_seq", ledger_transactions, "change_seq")
postgres_index("ledger_entries_pk", ledger_entries, "id", unique=True)
postgres_index("ledger_entries_transaction", ledger_entries, "ledger_transaction_id")
postgres_index("ledger_entries_account_effective", ledger_entries, "ledger_account_id", "effective_at")
postgres_index("ledger_entries_change_seq", ledger_entries, "change_seq")
postgres_index("quarantine_status", quarantine, "status", "reason_code")
postgres_index("ledger_account_category_accounts_account", ledger_account_category_accounts, "ledger_account_id")
postgres_index("ledger_accounts_ledgerable", ledger_accounts, "ledgerable_type", "ledgerable_id")
