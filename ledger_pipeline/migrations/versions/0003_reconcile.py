"""Reconciliation: bank and processor records, runs, matches (one row per item), exceptions.

The DDL (``0003_reconcile.sql``, ``0003_reconcile.postgres.sql``) exactly as the first release of this
component ran it (``ledger_pipeline/reconcile/schema.py`` at a6f0920).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables_revision

revision = "0003"
down_revision = '0002'

upgrade, downgrade = create_tables_revision(__file__, component=("reconcile", 1))
