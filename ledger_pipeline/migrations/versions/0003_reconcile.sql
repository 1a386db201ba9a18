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
    change_seq BIGINT NOT NULL
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
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS recon_match_items (
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
