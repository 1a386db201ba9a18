CREATE UNIQUE INDEX IF NOT EXISTS ledger_transactions_pk ON ledger_transactions (id);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_transactions_external_id ON ledger_transactions (ledger_id, external_id);
CREATE INDEX IF NOT EXISTS ledger_transactions_change_seq ON ledger_transactions (change_seq);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_entries_pk ON ledger_entries (id);
CREATE INDEX IF NOT EXISTS ledger_entries_transaction ON ledger_entries (ledger_transaction_id);
CREATE INDEX IF NOT EXISTS ledger_entries_account_effective ON ledger_entries (ledger_account_id, effective_at);
CREATE INDEX IF NOT EXISTS ledger_entries_change_seq ON ledger_entries (change_seq);
CREATE INDEX IF NOT EXISTS quarantine_status ON quarantine (status, reason_code)
