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
    text,
)

SCHEMA_VERSION = 1  # the component's version in ``schema_info`` (kept for stores and readers that use it)

METADATA = MetaData()

Money = Numeric(38, 0)
Timestamp = DateTime(timezone=True)
EMPTY_JSON = text("'{}'")


def postgres_index(name: str, table: Table, *columns: str, unique: bool = False) -> Index:
    """An index that only PostgreSQL gets (see the module docstring for why DuckDB's tables have none)."""
    index = Index(name, *(table.c[c] for c in columns), unique=unique, info={"only_on": "postgresql"})
    return index.ddl_if(dialect="postgresql")


def change_seq() -> Column:
    return Column("change_seq", BigInteger, nullable=False)


def one_of(column: str, *values: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})")


LEDGER_CHANGE_SEQ = Sequence("ledger_change_seq", start=1, metadata=METADATA)

ledgers = Table(
    "ledgers", METADATA,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("description", Text),
    Column("metadata", Text, nullable=False, server_default=EMPTY_JSON),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    change_seq(),
)

ledger_accounts = Table(
    "ledger_accounts", METADATA,
    Column("id", Text, primary_key=True),
    Column("ledger_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("normal_balance", Text, one_of("normal_balance", "credit", "debit"), nullable=False),
    Column("currency", Text, nullable=False),
    Column("currency_exponent", Integer, CheckConstraint("currency_exponent BETWEEN 0 AND 30"), nullable=False),
    Column("metadata", Text, nullable=False, server_default=EMPTY_JSON),
    Column("ledgerable_type", Text),
    Column("ledgerable_id", Text),
    Column("min_available_balance", Money),
    Column("max_available_balance", Money),
    Column("archived_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    change_seq(),
    UniqueConstraint("ledger_id", "name"),
)

ledger_account_balances = Table(
    "ledger_account_balances", METADATA,
    Column("ledger_account_id", Text, primary_key=True),
    Column("posted_debits", Money, nullable=False, server_default=text("0")),
    Column("posted_credits", Money, nullable=False, server_default=text("0")),
    Column("pending_debits", Money, nullable=False, server_default=text("0")),
    Column("pending_credits", Money, nullable=False, server_default=text("0")),
    Column("lock_version", BigInteger, nullable=False, server_default=text("0")),
    Column("updated_at", Timestamp, nullable=False),
    change_seq(),
)

ledger_transactions = Table(
    "ledger_transactions", METADATA,
    Column("id", Text, nullable=False),
    Column("ledger_id", Text, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("status", Text, one_of("status", "pending", "posted", "archived"), nullable=False),
    Column("description", Text),
    Column("effective_at", Timestamp, nullable=False),
    Column("posted_at", Timestamp),
    Column("archived_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("source", Text),
    Column("ledgerable_type", Text),
    Column("ledgerable_id", Text),
    Column("reverses_id", Text),
    Column("metadata", Text, nullable=False, server_default=EMPTY_JSON),
    Column("payload_hash", Text, nullable=False),
    Column("batch_id", Text),
    Column("version", Integer, nullable=False, server_default=text("1")),
    change_seq(),
)

ledger_entries = Table(
    "ledger_entries", METADATA,
    Column("id", Text, nullable=False),
    Column("ledger_transaction_id", Text, nullable=False),
    Column("ledger_account_id", Text, nullable=False),
    Column("direction", Text, one_of("direction", "debit", "credit"), nullable=False),
    Column("amount", Money, CheckConstraint("amount > 0"), nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("effective_at", Timestamp, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    change_seq(),
)

quarantine = Table(
    "quarantine", METADATA,
    Column("id", Text, primary_key=True),
    Column("batch_id", Text),
    Column("source", Text),
    Column("ledger_name", Text),
    Column("external_id", Text),
    Column("reason_code", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("record_ref", Text),
    Column("raw_payload", Text, nullable=False),
    Column("status", Text, one_of("status", "open", "replayed", "discarded"), nullable=False,
           server_default=text("'open'")),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("created_at", Timestamp, nullable=False),
    Column("resolved_at", Timestamp),
    Column("resolution", Text),
    change_seq(),
)

audit_log = Table(
    "audit_log", METADATA,
    Column("id", Text, primary_key=True),
    Column("occurred_at", Timestamp, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("object_type", Text, nullable=False),
    Column("object_id", Text),
    Column("request_hash", Text),
    Column("detail", Text, nullable=False, server_default=EMPTY_JSON),
    change_seq(),
)

events = Table(
    "events", METADATA,
    Column("id", Text, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("object_type", Text, nullable=False),
    Column("object_id", Text, nullable=False),
    Column("data", Text, nullable=False, server_default=EMPTY_JSON),
    Column("created_at", Timestamp, nullable=False),
    change_seq(),
)

# Each component's version, as stores made before Alembic revisions recorded it (``migrate`` reads it to
# find the revision of such a store; some readers check that a component is installed).
schema_info = Table(
    "schema_info", METADATA,
    Column("component", Text, primary_key=True),
    Column("version", Integer, nullable=False),
)

postgres_index("ledger_transactions_pk", ledger_transactions, "id", unique=True)
postgres_index("ledger_transactions_external_id", ledger_transactions, "ledger_id", "external_id", unique=True)
postgres_index("ledger_transactions_change_seq", ledger_transactions, "change_seq")
postgres_index("ledger_entries_pk", ledger_entries, "id", unique=True)
postgres_index("ledger_entries_transaction", ledger_entries, "ledger_transaction_id")
postgres_index("ledger_entries_account_effective", ledger_entries, "ledger_account_id", "effective_at")
postgres_index("ledger_entries_change_seq", ledger_entries, "change_seq")
postgres_index("quarantine_status", quarantine, "status", "reason_code")
