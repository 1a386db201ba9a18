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
