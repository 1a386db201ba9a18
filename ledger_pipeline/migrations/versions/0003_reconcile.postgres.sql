CREATE UNIQUE INDEX IF NOT EXISTS bank_statement_lines_pk ON bank_statement_lines (id);
CREATE INDEX IF NOT EXISTS bank_statement_lines_account ON bank_statement_lines (internal_account_id, line_date);
CREATE INDEX IF NOT EXISTS bank_statements_account ON bank_statements (internal_account_id, statement_date);
CREATE UNIQUE INDEX IF NOT EXISTS recon_matches_pk ON recon_matches (id);
CREATE INDEX IF NOT EXISTS recon_matches_account ON recon_matches (ledger_account_id);
CREATE UNIQUE INDEX IF NOT EXISTS recon_match_items_pk ON recon_match_items (match_id, side, item_id);
CREATE INDEX IF NOT EXISTS recon_match_items_item ON recon_match_items (side, item_id, ledger_account_id);
CREATE INDEX IF NOT EXISTS recon_unmatched_status ON recon_unmatched (status, internal_account_id);
CREATE INDEX IF NOT EXISTS payment_orders_status ON payment_orders (status);
CREATE INDEX IF NOT EXISTS processor_settlement_items_settlement ON processor_settlement_items (processor, settlement_id)
