"""The registry of exported tables: what each destination table holds and how it is read from the store.

Adding a table to the warehouse is one ``ExportTable`` entry in ``EXPORT_TABLES``. Each destination table
has the entry's columns (typed with the logical types below), then ``_version`` (the source row's
``change_seq``) and ``_synced_at``; with a target's ``raw_json: true`` also ``raw_json`` (the exported source
row as a JSON object; off by default: it roughly doubles what a sync writes). Destination table names
equal the store's table names, so dbt sources and the ledger speak the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa

# Logical column types and their spelling in each destination. Money is "amount": exact integers of minor
# units with up to 38 digits, never float. "json" is a JSON document (the ``metadata`` columns), read as text
# and published as the destination's JSON type where the load path supports it (jsonb, DuckDB JSON); on
# Redshift, BigQuery and Snowflake it is still text holding JSON.
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "amount": pa.decimal128(38, 0),
    "bigint": pa.int64(),
    "integer": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "json": pa.string(),
}

SQL_TYPES: dict[str, dict[str, str]] = {
    "postgres": {"text": "TEXT", "amount": "NUMERIC(38,0)", "bigint": "BIGINT", "integer": "INTEGER",
                 "timestamp": "TIMESTAMPTZ", "date": "DATE", "boolean": "BOOLEAN", "json": "JSONB"},
    "redshift": {"text": "VARCHAR(65535)", "amount": "NUMERIC(38,0)", "bigint": "BIGINT",
                 "integer": "INTEGER", "timestamp": "TIMESTAMPTZ", "date": "DATE", "boolean": "BOOLEAN",
                 "json": "VARCHAR(65535)"},
    "bigquery": {"text": "STRING", "amount": "BIGNUMERIC", "bigint": "INT64", "integer": "INT64",
                 "timestamp": "TIMESTAMP", "date": "DATE", "boolean": "BOOL", "json": "STRING"},
    "snowflake": {"text": "VARCHAR", "amount": "NUMBER(38,0)", "bigint": "NUMBER(19,0)",
                  "integer": "NUMBER(10,0)", "timestamp": "TIMESTAMP_TZ", "date": "DATE", "boolean": "BOOLEAN",
                  "json": "VARCHAR"},
    "duckdb": {"text": "VARCHAR", "amount": "DECIMAL(38,0)", "bigint": "BIGINT", "integer": "INTEGER",
               "timestamp": "TIMESTAMPTZ", "date": "DATE", "boolean": "BOOLEAN", "json": "JSON"},
}

RAW_JSON = "raw_json"
SYNC_COLUMNS: tuple[tuple[str, str], ...] = ((RAW_JSON, "text"), ("_version", "bigint"),
                                             ("_synced_at", "timestamp"))
STATE_TABLE = "_ledger_sync_state"
STATE_COLUMNS: tuple[tuple[str, str], ...] = (("table_name", "text"), ("position", "bigint"),
                                              ("rows_last_sync", "bigint"), ("synced_at", "timestamp"))


@dataclass(frozen=True)
class ExportTable:
    """One destination table.

    ``columns`` are ``(name, logical type)`` in destination order. ``source`` is the ``FROM`` clause that
    yields those columns plus ``change_seq`` (default: the store table of the same name); ``requires`` is
    the store table that must exist for the table to be exported (tables of optional components).
    ``raw_json`` says whether the table has the ``raw_json`` column: the registry's entries do (the store
    is read with it); ``without_raw_json()`` is the destination table of a target that does not keep it.
    """

    name: str
    primary_key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    source: str | None = None
    requires: str | None = None
    raw_json: bool = True

    @property
    def all_columns(self) -> tuple[tuple[str, str], ...]:
        return self.columns + (SYNC_COLUMNS if self.raw_json else tuple(c for c in SYNC_COLUMNS if c[0] != RAW_JSON))

    def without_raw_json(self) -> ExportTable:
        return replace(self, raw_json=False)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.all_columns)

    @property
    def source_table(self) -> str:
        return self.requires or self.name

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in self.all_columns])


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """``"id text, amount amount"`` -> ``(("id", "text"), ("amount", "amount"))``."""
    pairs = []
    for part in spec.split(","):
        name, kind = part.split()
        if kind not in ARROW_TYPES:
            raise ValueError(f"unknown logical type {kind!r} for column {name!r}")
        pairs.append((name, kind))
    return tuple(pairs)


# Balances as Modern Treasury reports them, from the four stored sums (see ledger/balances.py):
# available = posted inflows minus pending-and-posted outflows; amount is signed by the normal balance.
_BALANCES_SOURCE = """(
    SELECT b.ledger_account_id, a.ledger_id, a.currency, a.currency_exponent, a.normal_balance,
        b.posted_debits, b.posted_credits,
        CASE WHEN a.normal_balance = 'credit' THEN b.posted_credits - b.posted_debits
             ELSE b.posted_debits - b.posted_credits END AS posted_amount,
        b.pending_debits, b.pending_credits,
        CASE WHEN a.normal_balance = 'credit' THEN b.pending_credits - b.pending_debits
             ELSE b.pending_debits - b.pending_credits END AS pending_amount,
        CASE WHEN a.normal_balance = 'credit' THEN b.pending_debits ELSE b.posted_debits END AS available_debits,
        CASE WHEN a.normal_balance = 'credit' THEN b.posted_credits ELSE b.pending_credits END AS available_credits,
        CASE WHEN a.normal_balance = 'credit' THEN b.posted_credits - b.pending_debits
             ELSE b.posted_debits - b.pending_credits END AS available_amount,
        b.lock_version, b.updated_at, b.change_seq
    FROM ledger_account_balances b JOIN ledger_accounts a ON a.id = b.ledger_account_id
)"""

EXPORT_TABLES: tuple[ExportTable, ...] = (
    ExportTable("ledgers", ("id",), _cols(
        "id text, name text, description text, metadata json, created_at timestamp, updated_at timestamp")),
    ExportTable("ledger_accounts", ("id",), _cols(
        "id text, ledger_id text, name text, description text, normal_balance text, currency text, "
        "currency_exponent integer, metadata json, ledgerable_type text, ledgerable_id text, "
        "min_available_balance amount, max_available_balance amount, archived_at timestamp, "
        "created_at timestamp, updated_at timestamp")),
    ExportTable("ledger_transactions", ("id",), _cols(
        "id text, ledger_id text, external_id text, status text, description text, effective_at timestamp, "
        "posted_at timestamp, archived_at timestamp, created_at timestamp, updated_at timestamp, "
        "source text, ledgerable_type text, ledgerable_id text, reverses_id text, metadata json, "
        "payload_hash text, batch_id text, version integer")),
    ExportTable("ledger_entries", ("id",), _cols(
        "id text, ledger_transaction_id text, ledger_account_id text, direction text, amount amount, "
        "currency text, status text, effective_at timestamp, created_at timestamp")),
    ExportTable("ledger_account_balances", ("ledger_account_id",), _cols(
        "ledger_account_id text, ledger_id text, currency text, currency_exponent integer, "
        "normal_balance text, posted_debits amount, posted_credits amount, posted_amount amount, "
        "pending_debits amount, pending_credits amount, pending_amount amount, "
        "available_debits amount, available_credits amount, available_amount amount, "
        "lock_version bigint, updated_at timestamp"),
        source=_BALANCES_SOURCE, requires="ledger_account_balances"),
    ExportTable("events", ("id",), _cols(
        "id text, event_type text, object_type text, object_id text, data text, created_at timestamp")),
    # Categories and their memberships (ledger/schema.py); a removed membership keeps its row with removed_at.
    ExportTable("ledger_account_categories", ("id",), _cols(
        "id text, ledger_id text, name text, description text, normal_balance text, currency text, "
        "metadata json, archived_at timestamp, created_at timestamp, updated_at timestamp")),
    ExportTable("ledger_account_category_accounts", ("category_id", "ledger_account_id"), _cols(
        "category_id text, ledger_account_id text, removed_at timestamp, created_at timestamp, "
        "updated_at timestamp")),
    ExportTable("ledger_account_category_children", ("parent_category_id", "child_category_id"), _cols(
        "parent_category_id text, child_category_id text, removed_at timestamp, created_at timestamp, "
        "updated_at timestamp")),
    ExportTable("quarantine", ("id",), _cols(
        "id text, batch_id text, source text, ledger_name text, external_id text, reason_code text, "
        "reason text, record_ref text, raw_payload text, status text, attempts integer, created_at timestamp, "
        "resolved_at timestamp, resolution text")),
    ExportTable("audit_log", ("id",), _cols(
        "id text, occurred_at timestamp, actor text, action text, object_type text, object_id text, "
        "request_hash text, detail json")),
    # Bank accounts, counterparties, statements and payment orders (ledger_pipeline/reconcile/schema.py). A
    # ledger account's link to one of them is its ledgerable_type and ledgerable_id (ledger_accounts).
    ExportTable("internal_accounts", ("id",), _cols(
        "id text, name text, account_identifier text, bank_name text, currency text, metadata json, "
        "created_at timestamp, updated_at timestamp")),
    ExportTable("external_accounts", ("id",), _cols(
        "id text, name text, account_identifier text, party_name text, currency text, metadata json, "
        "created_at timestamp, updated_at timestamp")),
    ExportTable("bank_statements", ("id",), _cols(
        "id text, internal_account_id text, account_identifier text, statement_date date, "
        "opening_balance amount, closing_balance amount, currency text, statement_ref text, position bigint, "
        "source_format text, source_file text, line_count bigint, created_at timestamp, control_warning text")),
    ExportTable("bank_statement_lines", ("id",), _cols(
        "id text, statement_id text, internal_account_id text, line_no bigint, line_date date, amount amount, "
        "currency text, type_code text, bank_reference text, customer_reference text, text text, "
        "created_at timestamp")),
    ExportTable("payment_orders", ("id",), _cols(
        "id text, type text, direction text, amount amount, currency text, originating_account_id text, "
        "receiving_account_id text, status text, effective_date date, description text, "
        "ledger_transaction_id text, metadata json, created_at timestamp, updated_at timestamp")),
    ExportTable("processor_settlement_items", ("id",), _cols(
        "id text, processor text, settlement_id text, record_type text, object_id text, source_type text, "
        "amount amount, currency text, occurred_at timestamp, loaded_at timestamp")),
    # Reconciliation results (ledger_pipeline/reconcile/schema.py); exported when the store has them.
    ExportTable("recon_runs", ("id",), _cols(
        "id text, started_at timestamp, finished_at timestamp, as_of date, window_days integer, "
        "account_filter text, summary text")),
    ExportTable("recon_balance_variances", ("id",), _cols(
        "id text, internal_account_id text, ledger_account_id text, statement_id text, statement_date date, "
        "currency text, ledger_balance amount, bank_balance amount, variance amount, run_id text, "
        "computed_at timestamp")),
    ExportTable("recon_matches", ("id",), _cols(
        "id text, internal_account_id text, ledger_account_id text, rule text, match_key text, "
        "bank_count bigint, ledger_count bigint, bank_total amount, ledger_total amount, created_by text, "
        "note text, run_id text, created_at timestamp")),
    ExportTable("recon_match_items", ("match_id", "side", "item_id"), _cols(
        "match_id text, side text, item_id text, internal_account_id text, ledger_account_id text, "
        "item_date date, amount amount")),
    ExportTable("recon_unmatched", ("side", "item_id", "ledger_account_id"), _cols(
        "side text, item_id text, internal_account_id text, ledger_account_id text, item_date date, "
        "amount amount, currency text, reference text, description text, reason text, age_days integer, "
        "as_of date, status text, first_run_id text, last_run_id text, resolved_at timestamp")),
)

TABLES_BY_NAME: dict[str, ExportTable] = {t.name: t for t in EXPORT_TABLES}

# -- Descriptions: every destination table and column gets one as its comment (COMMENT ON, BigQuery
# descriptions). A column's text is ``COLUMN_DESCRIPTIONS["table.column"]``, else ``["column"]``; every
# ``amount`` column also gets MINOR_UNITS appended, so no one sums cents as dollars. The texts hold no single
# quote (fakesnow stores a table comment without unescaping it).

MINOR_UNITS = ("Integer minor units of the currency of the row (cents for USD), not a decimal amount: divide by "
               "10^currency_exponent (ledger_accounts.currency_exponent) for the decimal value.")

TABLE_DESCRIPTIONS: dict[str, str] = {
    "ledgers": "Ledgers: transactions balance within one ledger. One row per ledger.",
    "ledger_accounts": "The chart of accounts: one row per ledger account, with its normal balance and currency.",
    "ledger_transactions": "Ledger transactions (pending, posted or archived); one row per transaction, at its "
                           "latest version.",
    "ledger_entries": "Ledger entries: the debit and credit lines of transactions; one row per entry.",
    "ledger_account_balances": "Current balances of each ledger account (posted, pending and available, as "
                               "debits, credits and signed amount); one row per account.",
    "events": "The event feed of the ledger (an object created or updated); one row per event.",
    "ledger_account_categories": "Ledger account categories: named groups of ledger accounts and other "
                                 "categories (e.g. cash, revenue); balances roll up through them.",
    "ledger_account_category_accounts": "Which ledger accounts each category holds directly; an account may "
                                        "sit in several categories. A removed membership has removed_at set.",
    "ledger_account_category_children": "Which categories each category holds (the hierarchy). A removed "
                                        "membership has removed_at set.",
    "quarantine": "Records the ledger refused, with the reason code and the raw payload; one row per record.",
    "audit_log": "Who changed what in the ledger and when; one row per change.",
    "internal_accounts": "The bank accounts of the company; a ledger account links to one through "
                         "ledgerable_type = internal_account and ledgerable_id.",
    "external_accounts": "The bank accounts of counterparties; a ledger account links to one through "
                         "ledgerable_type = external_account and ledgerable_id.",
    "bank_statements": "Bank statements of the internal accounts, as the bank reported them; one row per "
                       "statement.",
    "bank_statement_lines": "The lines of bank statements, amounts signed from the side of the account holder "
                            "(money in is positive); one row per line.",
    "payment_orders": "Payment orders: money the company sends or draws, with status and ledger transaction.",
    "processor_settlement_items": "Payouts and their items at payment processors (Stripe payouts, Adyen "
                                  "batches), as the connectors landed them.",
    "recon_runs": "Reconciliation runs: when each ran, as of which date, and its summary.",
    "recon_balance_variances": "Balance reconciliation: per linked account and statement date, the ledger "
                               "balance, the closing balance on the bank statement and variance = bank - ledger.",
    "recon_matches": "Reconciliation matches: groups of bank and ledger items matched by a rule or by hand.",
    "recon_match_items": "The bank and ledger items of each reconciliation match.",
    "recon_unmatched": "Bank and ledger items not matched by the latest reconciliation run (breaks), with age.",
    STATE_TABLE: "The acknowledged position of the warehouse sync, per table (internal to the sync).",
}

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # shared meanings
    "id": "Primary key: the identifier of the object in the ledger.",
    "ledger_id": "The ledger this object belongs to (ledgers.id).",
    "name": "Name.",
    "description": "Free-text description.",
    "metadata": "Key-value metadata of the object, a JSON object.",
    "created_at": "When the object was created (UTC).",
    "updated_at": "When the object was last changed (UTC).",
    "archived_at": "When the object was archived (UTC); NULL while active.",
    "currency": "ISO 4217 currency code (or a custom currency code of the ledger).",
    "currency_exponent": "Digits after the decimal point of the currency (2 for USD): amounts divide by "
                         "10^currency_exponent.",
    "normal_balance": "debit or credit: the side on which the balance of the account grows.",
    "ledgerable_type": "Type of the external object this ledger object records (e.g. a payment order).",
    "ledgerable_id": "Identifier of the external object this ledger object records.",
    "status": "Lifecycle status.",
    "effective_at": "When the transaction takes effect for balances (UTC).",
    "ledger_account_id": "The ledger account (ledger_accounts.id).",
    "internal_account_id": "The bank account of the company (internal account) reconciled.",
    "run_id": "The reconciliation run (recon_runs.id) that produced the row.",
    "item_date": "Date of the bank or ledger item.",
    "side": "bank or ledger: which side the item comes from.",
    "item_id": "Identifier of the bank statement line or ledger entry.",
    "amount": "Amount of the item, unsigned.",
    RAW_JSON: "The exported source row as one JSON object (only when the target sets raw_json: true).",
    "_version": "The change_seq of the source row: the position of the write that last changed it.",
    "_synced_at": "When the sync that wrote this row version ran (UTC).",
    # ledger_accounts
    "ledger_accounts.min_available_balance": "Lower bound the ledger enforces on the available balance; NULL "
                                             "when none.",
    "ledger_accounts.max_available_balance": "Upper bound the ledger enforces on the available balance; NULL "
                                             "when none.",
    # ledger_transactions
    "ledger_transactions.external_id": "The idempotency key given by the caller, unique per ledger.",
    "ledger_transactions.status": "pending, posted or archived.",
    "ledger_transactions.posted_at": "When the transaction was posted (UTC); NULL while pending.",
    "ledger_transactions.source": "Where the transaction came from (connector or API).",
    "ledger_transactions.reverses_id": "The transaction this one reverses (ledger_transactions.id), if any.",
    "ledger_transactions.payload_hash": ("Hash of the posted payload, which detects a conflicting retry; its "
                                         "prefix names its version (v3, v2; none: version 1)."),
    "ledger_transactions.batch_id": "The import batch that posted the transaction.",
    "ledger_transactions.version": "The version of the transaction, incremented by each change.",
    # ledger_entries
    "ledger_entries.ledger_transaction_id": "The transaction of the entry (ledger_transactions.id).",
    "ledger_entries.direction": "debit or credit.",
    "ledger_entries.amount": "Amount of the entry, unsigned (direction gives the side).",
    "ledger_entries.status": "The status of the transaction of the entry: pending, posted or archived.",
    # ledger_account_balances
    "ledger_account_balances.ledger_account_id": "Primary key: the ledger account (ledger_accounts.id).",
    "ledger_account_balances.posted_debits": "Sum of posted debit entries.",
    "ledger_account_balances.posted_credits": "Sum of posted credit entries.",
    "ledger_account_balances.posted_amount": "Posted balance, signed by the normal balance (credits - debits "
                                             "on a credit-normal account).",
    "ledger_account_balances.pending_debits": "Sum of pending and posted debit entries.",
    "ledger_account_balances.pending_credits": "Sum of pending and posted credit entries.",
    "ledger_account_balances.pending_amount": "Pending balance (pending and posted entries), signed by the "
                                              "normal balance.",
    "ledger_account_balances.available_debits": "Debits counted in the available balance.",
    "ledger_account_balances.available_credits": "Credits counted in the available balance.",
    "ledger_account_balances.available_amount": "Available balance: posted inflows minus pending and posted "
                                                "outflows.",
    "ledger_account_balances.lock_version": "The version of the balance row, incremented by each write.",
    # events
    "events.event_type": "What happened (e.g. ledger_transaction.created).",
    "events.object_type": "Type of the object the event is about.",
    "events.object_id": "Identifier of the object the event is about.",
    "events.data": "The payload of the event, a JSON object.",
    # categories
    "ledger_account_categories.id": "Primary key: the identifier of the category.",
    "ledger_account_categories.name": "Name of the category, unique per ledger (e.g. cash, revenue).",
    "ledger_account_categories.normal_balance": "debit or credit: the side on which the balance of the "
                                                "category grows.",
    "ledger_account_categories.currency": "Currency of the category; NULL when it holds several.",
    "category_id": "The category (ledger_account_categories.id).",
    "removed_at": "When the membership was removed (UTC); NULL while it holds.",
    "ledger_account_category_accounts.category_id": "Primary key part: the category "
                                                    "(ledger_account_categories.id).",
    "ledger_account_category_accounts.ledger_account_id": "Primary key part: the ledger account "
                                                          "(ledger_accounts.id) the category holds.",
    "ledger_account_category_children.parent_category_id": "Primary key part: the category that holds the "
                                                           "child (ledger_account_categories.id).",
    "ledger_account_category_children.child_category_id": "Primary key part: the category held "
                                                          "(ledger_account_categories.id).",
    # quarantine
    "batch_id": "The import batch of the record.",
    "quarantine.source": "Where the record came from (connector or input file).",
    "quarantine.ledger_name": "The ledger the record was meant for.",
    "quarantine.external_id": "The external id of the refused transaction, when it has one.",
    "quarantine.reason_code": "Why the record was refused: a reason code of the ledger (see docs/design.md).",
    "quarantine.reason": "Why the record was refused, in words (file, line and rule).",
    "quarantine.record_ref": "Where the record is in its input (file and line, or API object).",
    "quarantine.raw_payload": "The record as received.",
    "quarantine.status": "open, replayed or discarded.",
    "quarantine.attempts": "How many times the record was tried.",
    "quarantine.resolved_at": "When the record was replayed or discarded (UTC); NULL while open.",
    "quarantine.resolution": "How the record was resolved (why it was discarded).",
    # audit log
    "audit_log.occurred_at": "When the change happened (UTC).",
    "audit_log.actor": "Who made the change (a user, API key or pipeline).",
    "audit_log.action": "What was done (e.g. create, update).",
    "audit_log.object_type": "Type of the object changed.",
    "audit_log.object_id": "Identifier of the object changed.",
    "audit_log.request_hash": "Hash of the API request that made the change, when it came through the API.",
    "audit_log.detail": "Details of the change, a JSON object.",
    # bank accounts, statements, payment orders
    "account_identifier": "The bank account identifier (routing and account number, IBAN).",
    "internal_accounts.bank_name": "Name of the bank holding the account.",
    "external_accounts.party_name": "The counterparty holding the account.",
    "bank_statements.statement_date": "The closing date of the statement.",
    "bank_statements.opening_balance": "Opening balance on the statement; NULL when the file has none.",
    "bank_statements.closing_balance": "Closing balance on the statement; NULL when the file has none.",
    "bank_statements.statement_ref": "The reference of the statement given by the bank.",
    "bank_statements.position": "Order of the statement among those of the same account and date.",
    "bank_statements.source_format": "File format the statement came in (BAI2, camt.053, CSV).",
    "bank_statements.source_file": "File the statement was read from.",
    "bank_statements.line_count": "Number of lines of the statement.",
    "bank_statements.control_warning": "Controls of the file that failed when it was taken on purpose; NULL "
                                       "when none.",
    "statement_id": "The bank statement (bank_statements.id).",
    "bank_statement_lines.line_no": "Position of the line in its statement.",
    "bank_statement_lines.line_date": "Value date of the line.",
    "bank_statement_lines.amount": "Amount of the line, signed: money into the account is positive.",
    "bank_statement_lines.type_code": "Transaction type code given by the bank.",
    "bank_statement_lines.bank_reference": "Reference given by the bank.",
    "bank_statement_lines.customer_reference": "Reference given by the customer (e.g. an invoice number).",
    "bank_statement_lines.text": "Free text of the line.",
    "payment_orders.type": "Payment rail (ach, wire, ...).",
    "payment_orders.direction": "credit (money sent from the originating account) or debit (money drawn).",
    "payment_orders.amount": "Amount of the payment order, unsigned.",
    "payment_orders.originating_account_id": "The internal account the payment goes from "
                                             "(internal_accounts.id).",
    "payment_orders.receiving_account_id": "The external account on the other side (external_accounts.id).",
    "payment_orders.status": "Status of the payment order (e.g. pending, completed, returned).",
    "payment_orders.effective_date": "Date the payment takes effect.",
    "payment_orders.ledger_transaction_id": "The ledger transaction recording the payment order "
                                            "(ledger_transactions.id), once made.",
    "processor_settlement_items.processor": "The payment processor (stripe, adyen).",
    "processor_settlement_items.settlement_id": "The payout (Stripe) or batch (Adyen) the item belongs to.",
    "processor_settlement_items.record_type": "payout (the payout itself) or item (a transaction it settles).",
    "processor_settlement_items.object_id": "Identifier of the object at the processor.",
    "processor_settlement_items.source_type": "Type of the object at the processor (charge, refund, fee, ...).",
    "processor_settlement_items.amount": "Net amount, signed: a payout counts what it paid out.",
    "processor_settlement_items.occurred_at": "When the object happened at the processor (UTC).",
    "processor_settlement_items.loaded_at": "When the item was loaded from the landed records (UTC).",
    # reconciliation
    "recon_runs.started_at": "When the run started (UTC).",
    "recon_runs.finished_at": "When the run finished (UTC).",
    "recon_runs.as_of": "The date the run reconciled up to.",
    "recon_runs.window_days": "How many days back the run matched items.",
    "recon_runs.account_filter": "The accounts the run was limited to, if any.",
    "recon_runs.summary": "The summary counts of the run, a JSON object.",
    "recon_balance_variances.statement_id": "The bank statement compared.",
    "recon_balance_variances.statement_date": "The closing date of the statement.",
    "recon_balance_variances.ledger_balance": "The posted balance of the ledger account at the statement date.",
    "recon_balance_variances.bank_balance": "The closing balance on the bank statement.",
    "recon_balance_variances.variance": "bank_balance - ledger_balance.",
    "recon_balance_variances.computed_at": "When the variance was computed (UTC).",
    "recon_matches.rule": "The matching rule that made the match (or manual).",
    "recon_matches.match_key": "The key the rule matched on (e.g. a reference).",
    "recon_matches.bank_count": "Number of bank items in the match.",
    "recon_matches.ledger_count": "Number of ledger items in the match.",
    "recon_matches.bank_total": "Total of the bank items of the match.",
    "recon_matches.ledger_total": "Total of the ledger items of the match.",
    "recon_matches.created_by": "Who made the match (a rule run or a user).",
    "recon_matches.note": "Note attached to the match.",
    "recon_match_items.match_id": "The match (recon_matches.id).",
    "recon_unmatched.reference": "The reference of the item (as on the statement or the entry).",
    "recon_unmatched.reason": "Why the item is unmatched.",
    "recon_unmatched.age_days": "Days from item_date to as_of.",
    "recon_unmatched.as_of": "The date of the run that last saw the item unmatched.",
    "recon_unmatched.status": "open, or resolved once matched.",
    "recon_unmatched.first_run_id": "The first run that found the item unmatched.",
    "recon_unmatched.last_run_id": "The latest run that found the item unmatched.",
    "recon_unmatched.resolved_at": "When the item was matched (UTC); NULL while open.",
    # the state table of the sync
    f"{STATE_TABLE}.table_name": "Primary key: the synced table.",
    f"{STATE_TABLE}.position": "The next sync reads the rows of that table with position <= change_seq < watermark.",
    f"{STATE_TABLE}.rows_last_sync": "Rows merged into that table by the last sync.",
    f"{STATE_TABLE}.synced_at": "When the position last moved (UTC).",
}


def table_description(table: str) -> str:
    return TABLE_DESCRIPTIONS[table]


def column_description(table: str, column: str, kind: str) -> str:
    """The comment of ``table.column`` (logical type ``kind``); raises KeyError when none is declared."""
    text = COLUMN_DESCRIPTIONS.get(f"{table}.{column}") or COLUMN_DESCRIPTIONS[column]
    return f"{text} {MINOR_UNITS}" if kind == "amount" else text


def descriptions(table: str, columns: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, str]]:
    """(table comment, {column: comment}) of a destination table."""
    return table_description(table), {name: column_description(table, name, kind) for name, kind in columns}


def sql_string(text: str) -> str:
    """A SQL string literal of a registry description (COMMENT ON takes no bound parameters)."""
    return "'" + text.replace("'", "''") + "'"
