"""Ingest: the raw landing table and the connector cursors.

The DDL exactly as the first release of this component ran it (``ledger_pipeline/ingest/schema.py`` at 69c33b1).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables, never_downgrade, set_component_version

revision = "0002"
down_revision = '0001'

TABLES = """
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

POSTGRES_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS raw_records_key ON raw_records (source, stream, object_id, record_hash);
CREATE INDEX IF NOT EXISTS raw_records_change_seq ON raw_records (change_seq)
"""


def upgrade() -> None:
    create_tables(TABLES, POSTGRES_INDEXES)
    set_component_version("ingest", 1)


downgrade = never_downgrade
