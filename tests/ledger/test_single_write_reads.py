"""A single write on PostgreSQL reads the accounts and balances it names by index, never by scanning the
account or balance tables: its cost must not grow with the number of accounts in the store (a card issuer's
ledger holds one account per card). Counted with PostgreSQL's own per-table statistics of the writer's
backend, over writes that run the statements a write can run (balance limits, the overflow check, account
references by id and by name)."""

from __future__ import annotations

import pytest

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.ledger.conftest import sequential_scans

ACCOUNTS = 2_000  # enough that an index lookup is the planner's cheaper choice for one row
TABLES = ("ledger_accounts", "ledger_account_balances")
WARM_UP = 6  # psycopg prepares a statement at its fifth run; PostgreSQL may keep a generic plan after five more


def test_single_writes_do_not_scan_the_account_or_balance_tables(pg_schema_url):
    store = Store(pg_schema_url)
    initialize_store(store)
    with store.connect() as conn:
        schema = conn.scalar("SELECT current_schema()")
    with store.transaction() as conn:
        funding = ensure_account(conn, "main", AccountSpec("funding", "debit", "USD"))
        cards = [ensure_account(conn, "main", AccountSpec(f"card-{i}", "credit", "USD", min_available_balance=0))
                 for i in range(ACCOUNTS)]
    with open_writer(store, group_commit=False) as writer:
        writer.post(TransactionInput([EntryInput(funding, "debit", 100 * ACCOUNTS)]
                                     + [EntryInput(card, "credit", 100) for card in cards], external_id="fund"))

    def spend(writer, n: int, amount: int = 1) -> None:
        card = cards[n % ACCOUNTS]
        writer.post(TransactionInput([EntryInput(card, "debit", amount), EntryInput("funding", "credit", amount)],
                                     external_id=f"hold-{n}", status="pending"))

    with open_writer(store, group_commit=False) as writer:
        for n in range(WARM_UP * 2):
            spend(writer, n)
        writer.conn.scalar("SELECT pg_stat_force_next_flush()")  # this backend's counts so far, published
        before = sequential_scans(pg_schema_url, schema, TABLES)
        for n in range(WARM_UP * 2, WARM_UP * 2 + 20):
            spend(writer, n)
        with pytest.raises(RuleViolation) as overdraft:  # a limit refused: the check's every pass runs
            spend(writer, 999_999, amount=10_000)
        writer.conn.scalar("SELECT pg_stat_force_next_flush()")
        after = sequential_scans(pg_schema_url, schema, TABLES)
    assert overdraft.value.reason_codes == ["balance_limit_exceeded"]
    assert set(before) == set(TABLES)
    assert after == before, f"sequential scans by 21 single writes: {before} -> {after}"
