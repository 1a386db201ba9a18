"""API: the API keys table (sha256 hashes of the tokens, with their scopes).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables, never_downgrade

revision = "0006"
down_revision = "0005"

TABLES = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    revoked_at TIMESTAMP WITH TIME ZONE,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (id)
)
"""

POSTGRES_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_token_hash ON api_keys (token_hash)
"""


def upgrade() -> None:
    create_tables(TABLES, POSTGRES_INDEXES)


downgrade = never_downgrade
