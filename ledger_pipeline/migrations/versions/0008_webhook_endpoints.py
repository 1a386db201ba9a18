"""API: the webhook endpoints table (outbound webhooks' targets and their delivery state).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables_revision

revision = "0008"
down_revision = "0007"

upgrade, downgrade = create_tables_revision(__file__)
