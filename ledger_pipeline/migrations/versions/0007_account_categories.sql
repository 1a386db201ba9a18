CREATE TABLE IF NOT EXISTS ledger_account_categories (
    id TEXT NOT NULL,
    ledger_id TEXT NOT NULL,
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
);
CREATE TABLE IF NOT EXISTS ledger_account_category_accounts (
    category_id TEXT NOT NULL,
    ledger_account_id TEXT NOT NULL,
    removed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (category_id, ledger_account_id)
);
CREATE TABLE IF NOT EXISTS ledger_account_category_children (
    parent_category_id TEXT NOT NULL,
    child_category_id TEXT NOT NULL,
    removed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (parent_category_id, child_category_id)
)
