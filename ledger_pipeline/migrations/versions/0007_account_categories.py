"""Ledger account categories: the categories, the accounts they hold and the categories nested in them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables_revision

revision = "0007"
down_revision = "0006"

upgrade, downgrade = create_tables_revision(__file__)
