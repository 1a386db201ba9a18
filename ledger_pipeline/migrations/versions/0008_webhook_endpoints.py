"""API: the webhook endpoints table (outbound webhooks' targets and their delivery state).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables, never_downgrade

revision = "0008"
down_revision = "0007"

TABLES = """
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    removed_at TIMESTAMP WITH TIME ZONE,
    cursor_seq BIGINT NOT NULL,
    cursor_created_at TIMESTAMP WITH TIME ZONE,
    cursor_event_id TEXT DEFAULT '' NOT NULL,
    delivered BIGINT DEFAULT 0 NOT NULL,
    attempts INTEGER DEFAULT 0 NOT NULL,
    next_attempt_at TIMESTAMP WITH TIME ZONE,
    last_error TEXT,
    lease_owner TEXT,
    lease_until TIMESTAMP WITH TIME ZONE,
    change_seq BIGINT NOT NULL,
    PRIMARY KEY (id)
)
"""


def upgrade() -> None:
    create_tables(TABLES, "")


downgrade = never_downgrade
