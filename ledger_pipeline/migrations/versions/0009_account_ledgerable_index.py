"""Ledger accounts: PostgreSQL indexes the object an account is linked to (``ledgerable_type``,
``ledgerable_id``), which a card authorisation looks its card's account up by; without it every
authorisation scanned every account.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

from ledger_pipeline.migrations.steps import never_downgrade, on_postgres

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    if on_postgres():
        op.execute("CREATE INDEX IF NOT EXISTS ledger_accounts_ledgerable ON ledger_accounts "
                   "(ledgerable_type, ledgerable_id)")


downgrade = never_downgrade
