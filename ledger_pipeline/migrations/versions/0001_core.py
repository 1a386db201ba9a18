"""The core ledger: ledgers, accounts, balances, transactions, entries, quarantine, audit log, events.

The DDL exactly as the first release of this component ran it (``ledger_pipeline/ledger/schema.py`` at e5fa35a).

Revision ID: 0001
Revises: (none: the first revision)
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables, never_downgrade, set_component_version

revision = "0001"
down_revision = None

TABLES = """
CREATE SEQUENCE IF NOT EXISTS ledger_change_seq START 1;

CREATE TABLE IF NOT EXISTS ledgers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_accounts (
    id TEXT PRIMARY KEY,
    ledger_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    normal_balance TEXT NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
    currency TEXT NOT NULL,
    currency_exponent INTEGER NOT NULL CHECK (currency_exponent BETWEEN 0 AND 30),
    metadata TEXT NOT NULL DEFAULT '{}',
    ledgerable_type TEXT,
    ledgerable_id TEXT,
    min_available_balance NUMERIC(38,0),
    max_available_balance NUMERIC(38,0),
    archived_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL,
    UNIQUE (ledger_id, name)
);

CREATE TABLE IF NOT EXISTS ledger_account_balances (
    ledger_account_id TEXT PRIMARY KEY,
    posted_debits NUMERIC(38,0) NOT NULL DEFAULT 0,
    posted_credits NUMERIC(38,0) NOT NULL DEFAULT 0,
    pending_debits NUMERIC(38,0) NOT NULL DEFAULT 0,
    pending_credits NUMERIC(38,0) NOT NULL DEFAULT 0,
    lock_version BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_transactions (
    id TEXT NOT NULL,
    ledger_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'archived')),
    description TEXT,
    effective_at TIMESTAMPTZ NOT NULL,
    posted_at TIMESTAMPTZ,
    archived_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    source TEXT,
    ledgerable_type TEXT,
    ledgerable_id TEXT,
    reverses_id TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    payload_hash TEXT NOT NULL,
    batch_id TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS ledger_entries (
    id TEXT NOT NULL,
    ledger_transaction_id TEXT NOT NULL,
    ledger_account_id TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount NUMERIC(38,0) NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    effective_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS quarantine (
    id TEXT PRIMARY KEY,
    batch_id TEXT,
    source TEXT,
    ledger_name TEXT,
    external_id TEXT,
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    record_ref TEXT,
    raw_payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolution TEXT,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
    id TEXT PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    request_hash TEXT,
    detail TEXT NOT NULL DEFAULT '{}',
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS schema_info (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
)
"""

POSTGRES_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS ledger_transactions_pk ON ledger_transactions (id);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_transactions_external_id ON ledger_transactions (ledger_id, external_id);
CREATE INDEX IF NOT EXISTS ledger_transactions_change_seq ON ledger_transactions (change_seq);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_entries_pk ON ledger_entries (id);
CREATE INDEX IF NOT EXISTS ledger_entries_transaction ON ledger_entries (ledger_transaction_id);
CREATE INDEX IF NOT EXISTS ledger_entries_account_effective ON ledger_entries (ledger_account_id, effective_at);
CREATE INDEX IF NOT EXISTS ledger_entries_change_seq ON ledger_entries (change_seq);
CREATE INDEX IF NOT EXISTS quarantine_status ON quarantine (status, reason_code)
"""


def upgrade() -> None:
    create_tables(TABLES, POSTGRES_INDEXES)
    set_component_version("core", 1)


downgrade = never_downgrade
