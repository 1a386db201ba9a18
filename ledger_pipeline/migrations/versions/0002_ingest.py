"""Ingest: the raw landing table and the connector cursors.

The DDL (``0002_ingest.sql``, ``0002_ingest.postgres.sql``) exactly as the first release of this
component ran it (``ledger_pipeline/ingest/schema.py`` at 69c33b1).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables_revision

revision = "0002"
down_revision = '0001'

upgrade, downgrade = create_tables_revision(__file__, component=("ingest", 1))
