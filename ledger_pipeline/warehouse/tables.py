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
# units with up to 38 digits, never float.
ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "amount": pa.decimal128(38, 0),
    "bigint": pa.int64(),
    "integer": pa.int64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "boolean": pa.bool_(),
}

SQL_TYPES: dict[str, dict[str, str]] = {
    "postgres": {"text": "TEXT", "amount": "NUMERIC(38,0)", "bigint": "BIGINT", "integer": "INTEGER",
                 "timestamp": "TIMESTAMPTZ", "date": "DATE", "boolean": "BOOLEAN"},
    "redshift": {"text": "VARCHAR(65535)", "amount": "NUMERIC(38,0)", "bigint": "BIGINT",
                 "integer": "INTEGER", "timestamp": "TIMESTAMPTZ", "date": "DATE", "boolean": "BOOLEAN"},
    "bigquery": {"text": "STRING", "amount": "BIGNUMERIC", "bigint": "INT64", "integer": "INT64",
                 "timestamp": "TIMESTAMP", "date": "DATE", "boolean": "BOOL"},
    "snowflake": {"text": "VARCHAR", "amount": "NUMBER(38,0)", "bigint": "NUMBER(19,0)",
                  "integer": "NUMBER(10,0)", "timestamp": "TIMESTAMP_TZ", "date": "DATE", "boolean": "BOOLEAN"},
    "duckdb": {"text": "VARCHAR", "amount": "DECIMAL(38,0)", "bigint": "BIGINT", "integer": "INTEGER",
               "timestamp": "TIMESTAMPTZ", "date": "DATE", "boolean": "BOOLEAN"},
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
        "id text, name text, description text, metadata text, created_at timestamp, updated_at timestamp")),
    ExportTable("ledger_accounts", ("id",), _cols(
        "id text, ledger_id text, name text, description text, normal_balance text, currency text, "
        "currency_exponent integer, metadata text, ledgerable_type text, ledgerable_id text, "
        "min_available_balance amount, max_available_balance amount, archived_at timestamp, "
        "created_at timestamp, updated_at timestamp")),
    ExportTable("ledger_transactions", ("id",), _cols(
        "id text, ledger_id text, external_id text, status text, description text, effective_at timestamp, "
        "posted_at timestamp, archived_at timestamp, created_at timestamp, updated_at timestamp, "
        "source text, ledgerable_type text, ledgerable_id text, reverses_id text, metadata text, "
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
