"""PostgreSQL: entries are indexed by account alone, no longer by account and effective time.

Revision ID: 0009
Revises: 0008

The ``(ledger_account_id, effective_at)`` index took a random leaf page for each entry a batch wrote (a
batch's effective times are spread over its accounts' histories), the costliest upkeep of the write path;
an index on the account alone takes each entry at the right edge of its account's keys. Balances as of a
time scan the entries either way; an account's entries within a time range read all of that account's
entries. DuckDB's tables carry no index: nothing to do there.
"""

from __future__ import annotations

from ledger_pipeline.migrations.steps import execute_script, never_downgrade, on_postgres

revision = "0009"
down_revision = "0008"

POSTGRES_INDEXES = """
DROP INDEX IF EXISTS ledger_entries_account_effective;
CREATE INDEX IF NOT EXISTS ledger_entries_account ON ledger_entries (ledger_account_id)
"""


def upgrade() -> None:
    if on_postgres():
        execute_script(POSTGRES_INDEXES)


downgrade = never_downgrade
