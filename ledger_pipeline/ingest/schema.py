"""The ingest tables: the append-only raw landing table and the connector cursors.

``raw_records`` keeps every version of every source object exactly once: a row is identified by
(source, stream, object_id, record_hash) where ``record_hash`` is the MD5 of the canonical raw JSON, so
landing the same extraction again adds nothing, and a changed version of an object (a balance
transaction that became available, a charge that got refunded) is a new row beside the old one. Rows are
never updated or deleted. On DuckDB the table has no index (ART indexes slow bulk inserts several-fold
and the store has one writer: landing anti-joins in the same transaction); PostgreSQL gets a unique index.
"""

from __future__ import annotations

from ledger_pipeline.ledger.store import Connection

SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE IF NOT EXISTS raw_records (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    object_id TEXT NOT NULL,
    record_hash TEXT NOT NULL,
    record_type TEXT,
    cursor_value TEXT,
    record_ref TEXT,
    raw_json TEXT NOT NULL,
    fields_json TEXT NOT NULL,
    landed_at TIMESTAMPTZ NOT NULL,
    batch_id TEXT NOT NULL,
    change_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS connector_cursors (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    cursor TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (source, stream)
)
"""

_POSTGRES_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS raw_records_key ON raw_records (source, stream, object_id, record_hash);
CREATE INDEX IF NOT EXISTS raw_records_change_seq ON raw_records (change_seq)
"""


def create_ingest_schema(conn: Connection) -> None:
    """Create the landing and cursor tables if missing. Safe to run any number of times."""
    conn.execute_script(_TABLES)
    if conn.is_postgres:
        conn.execute_script(_POSTGRES_INDEXES)
    conn.execute(
        "INSERT INTO schema_info (component, version) VALUES ('ingest', :v) ON CONFLICT (component) DO NOTHING",
        {"v": SCHEMA_VERSION},
    )
