"""API: the API keys table (sha256 hashes of the tokens, with their scopes).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables_revision

revision = "0006"
down_revision = "0005"

upgrade, downgrade = create_tables_revision(__file__)
