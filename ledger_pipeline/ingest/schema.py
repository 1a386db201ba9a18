"""The ingest tables: the append-only raw landing table and the connector cursors.

``raw_records`` keeps every version of every source object exactly once: a row is identified by
(source, stream, object_id, record_hash) where ``record_hash`` is the MD5 of the canonical raw JSON, so
landing the same extraction again adds nothing, and a changed version of an object (a balance
transaction that became available, a charge that got refunded) is a new row beside the old one. Rows are
never updated or deleted. On DuckDB the table has no index (ART indexes slow bulk inserts several-fold
and the store has one writer: landing anti-joins in the same transaction); PostgreSQL gets a unique index.
The tables are part of the store's one metadata (``ledger_pipeline.ledger.schema.METADATA``).
"""

from __future__ import annotations

from sqlalchemy import Column, PrimaryKeyConstraint, Table, Text

from ledger_pipeline.ledger.schema import METADATA, Timestamp, change_seq, postgres_index, required

SCHEMA_VERSION = 1

raw_records = Table(
    "raw_records", METADATA,
    required("source"),
    required("stream"),
    required("object_id"),
    required("record_hash"),
    Column("record_type", Text),
    Column("cursor_value", Text),
    Column("record_ref", Text),
    required("raw_json"),
    required("fields_json"),
    required("landed_at", Timestamp),
    required("batch_id"),
    change_seq(),
)

connector_cursors = Table(
    "connector_cursors", METADATA,
    required("source"),
    required("stream"),
    Column("cursor", Text),
    required("updated_at", Timestamp),
    change_seq(),
    PrimaryKeyConstraint("source", "stream"),
)

postgres_index("raw_records_key", raw_records, "source", "stream", "object_id", "record_hash", unique=True)
postgres_index("raw_records_change_seq", raw_records, "change_seq")
