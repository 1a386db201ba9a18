"""Reconciliation: one-to-one matches keep their two items on the match row.

``recon_match_items`` (a table of every item) becomes ``recon_match_group_items``, holding only the items
of the other matches (the rows it has stay valid: those matches have no items on their own row), and
``recon_match_items`` becomes a view of both shapes, so its readers see the rows they saw before.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger_pipeline.migrations.steps import never_downgrade, on_postgres, set_component_version

revision = "0004"
down_revision = "0003"

MATCH_ITEMS_VIEW = """
CREATE VIEW recon_match_items AS
SELECT match_id, side, item_id, internal_account_id, ledger_account_id, item_date, amount, change_seq
FROM recon_match_group_items
UNION ALL
SELECT id, 'bank', bank_item_id, internal_account_id, ledger_account_id, bank_item_date, bank_total, change_seq
FROM recon_matches WHERE bank_item_id IS NOT NULL
UNION ALL
SELECT id, 'ledger', ledger_item_id, internal_account_id, ledger_account_id, ledger_item_date, ledger_total, change_seq
FROM recon_matches WHERE ledger_item_id IS NOT NULL
"""


def upgrade() -> None:
    op.rename_table("recon_match_items", "recon_match_group_items")
    for name, kind in (("bank_item_id", sa.Text), ("bank_item_date", sa.Date), ("ledger_item_id", sa.Text),
                       ("ledger_item_date", sa.Date)):
        op.add_column("recon_matches", sa.Column(name, kind))
    op.execute(MATCH_ITEMS_VIEW)
    if on_postgres():  # the renamed table keeps its two indexes (and their names)
        op.create_index("recon_matches_bank_item", "recon_matches", ["bank_item_id"])
        op.create_index("recon_matches_ledger_item", "recon_matches", ["ledger_item_id"])
    set_component_version("reconcile", 2)


downgrade = never_downgrade
