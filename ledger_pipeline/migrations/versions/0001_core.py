"""The core ledger: ledgers, accounts, balances, transactions, entries, quarantine, audit log, events.

The DDL (``0001_core.sql``, ``0001_core.postgres.sql``) exactly as the first release of this
component ran it (``ledger_pipeline/ledger/schema.py`` at e5fa35a).

Revision ID: 0001
Revises: (none: the first revision)
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import create_tables_revision

revision = "0001"
down_revision = None

upgrade, downgrade = create_tables_revision(__file__, component=("core", 1))
