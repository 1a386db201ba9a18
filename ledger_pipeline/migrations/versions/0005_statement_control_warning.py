"""Reconciliation: a bank statement taken although its file's own controls failed is flagged.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger_pipeline.migrations.steps import never_downgrade, set_component_version

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("bank_statements", sa.Column("control_warning", sa.Text))
    set_component_version("reconcile", 3)


downgrade = never_downgrade
