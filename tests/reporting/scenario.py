"""A small ledger that exercises every reporting model, plus a bulk batch from the benchmark generator.

Accounts cover the cases the marts must get right: cash accounts in a category nested under cash (and one
named like a bank account that sits in no category), customer wallets by category, a processor balance
paid out to the bank (a payout by categories) and a wallet paid out (a payout by categories), currencies
with exponents 0, 2, 3 and 8, an account that never moves, gaps of several days between movements,
pending, pending-then-posted and pending-then-archived transactions, a reversal, a payout that says so in
its metadata, an amount too large for a DECIMAL(38,18), and an effective date after today."""

from __future__ import annotations

from bench.generate import bench_accounts, generate_batch
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.batch_input import normalise_entries
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer, post_batch
from ledger_pipeline.ledger.store import Store
from tests.warehouse.objects import add_category

ACCOUNTS = (
    AccountSpec("bank_usd", "debit", "USD", ledgerable_type="internal_account", ledgerable_id="ia_1"),
    AccountSpec("operating_eur", "debit", "EUR", metadata={"account_type": "cash"}),
    AccountSpec("stripe_clearing_usd", "debit", "USD"),
    AccountSpec("wallet_alice", "credit", "USD"),
    AccountSpec("wallet_bob", "credit", "USD"),
    AccountSpec("carol_eur", "credit", "EUR", metadata={"account_type": "customer_wallet"}),
    AccountSpec("revenue_usd", "credit", "USD"),
    AccountSpec("revenue_eur", "credit", "EUR"),
    AccountSpec("idle_usd", "credit", "USD"),
    AccountSpec("points_issued", "debit", "POINTS"),
    AccountSpec("points_customers", "credit", "POINTS"),
    AccountSpec("btc_custody", "debit", "BTC"),
    AccountSpec("btc_customers", "credit", "BTC"),
    AccountSpec("kwd_bank", "debit", "KWD", ledgerable_type="internal_account", ledgerable_id="ia_2"),
    AccountSpec("kwd_equity", "credit", "KWD"),
)


# (name, normal balance, accounts, child categories), children first. kwd_equity is in no category.
CATEGORIES = (
    ("bank_accounts", "debit", ("bank_usd", "operating_eur", "kwd_bank"), ()),
    ("processor_balances", "debit", ("stripe_clearing_usd",), ()),
    ("cash", "debit", (), ("bank_accounts",)),
    ("customer_balances", "credit", ("wallet_alice", "wallet_bob", "carol_eur"), ()),
    ("liabilities", "credit", ("btc_customers",), ("customer_balances",)),
    ("revenue", "credit", ("revenue_usd", "revenue_eur"), ()),
)


def _tx(external_id, effective_at, entries, **kwargs) -> TransactionInput:
    return TransactionInput(
        external_id=external_id, effective_at=effective_at,
        entries=[EntryInput(account, direction, amount) for account, direction, amount in entries], **kwargs,
    )


TRANSACTIONS = (
    _tx("dep-alice-1", "2026-01-01T10:00:00Z", [("bank_usd", "debit", 100_00), ("wallet_alice", "credit", 100_00)],
        source="bank"),
    _tx("dep-bob-1", "2026-01-01T23:59:59Z", [("bank_usd", "debit", 50_00), ("wallet_bob", "credit", 50_00)],
        source="bank"),
    _tx("fee-alice-1", "2026-01-04T08:00:00Z", [("wallet_alice", "debit", 1_25), ("revenue_usd", "credit", 1_25)],
        source="billing"),
    _tx("card-alice-1", "2026-01-04T09:00:00Z",
        [("wallet_alice", "debit", 30_00), ("stripe_clearing_usd", "credit", 30_00)], source="stripe"),
    _tx("payout-1", "2026-02-02T00:00:00Z",
        [("bank_usd", "debit", 28_00), ("revenue_usd", "debit", 2_00), ("stripe_clearing_usd", "credit", 30_00)],
        source="stripe", metadata={"type": "payout"}),
    _tx("spend-1", "2026-02-10T12:00:00Z", [("revenue_usd", "debit", 1_00), ("bank_usd", "credit", 1_00)],
        source="erp"),
    _tx("eur-in", "2026-01-02T00:00:01+01:00",  # 2026-01-01 23:00:01 UTC
        [("operating_eur", "debit", 999_99), ("carol_eur", "credit", 999_99)], source="bank"),
    _tx("eur-fee", "2026-03-31T23:30:00Z", [("carol_eur", "debit", 9_99), ("revenue_eur", "credit", 9_99)],
        source="billing"),
    _tx("points-big", "2026-01-05T00:00:00Z",
        [("points_issued", "debit", 10**25), ("points_customers", "credit", 10**25)], source="loyalty"),
    _tx("btc-1", "2026-01-03T00:00:00Z", [("btc_custody", "debit", 1), ("btc_customers", "credit", 1)],
        source="custody"),
    _tx("kwd-1", "2026-01-03T00:00:00Z", [("kwd_bank", "debit", 1_234), ("kwd_equity", "credit", 1_234)]),
    _tx("pending-bob", "2026-01-06T00:00:00Z", [("wallet_bob", "debit", 10_00), ("revenue_usd", "credit", 10_00)],
        status="pending", source="billing"),
    _tx("pending-then-posted", "2026-01-07T00:00:00Z",
        [("wallet_bob", "debit", 5_00), ("revenue_usd", "credit", 5_00)], status="pending", source="billing"),
    _tx("pending-then-archived", "2026-01-08T00:00:00Z",
        [("wallet_bob", "debit", 7_00), ("revenue_usd", "credit", 7_00)], status="pending", source="billing"),
    _tx("wallet-payout-bob", "2026-03-05T00:00:00Z", [("wallet_bob", "debit", 20_00), ("bank_usd", "credit", 20_00)],
        source="bank"),
    _tx("future-dep", "2027-01-15T00:00:00Z", [("bank_usd", "debit", 1), ("wallet_alice", "credit", 1)],
        source="bank"),
)


def populate(store: Store, bulk_transactions: int = 2_000) -> None:
    """Write the scenario (and ``bulk_transactions`` generated ones) into an initialised store."""
    with store.transaction() as conn:
        for spec in ACCOUNTS:
            ensure_account(conn, "main", spec)
        for account in bench_accounts():
            ensure_account(conn, "main", AccountSpec(account.name, account.normal_balance, account.currency))
        for name, normal_balance, accounts, children in CATEGORIES:
            add_category(conn, name, normal_balance, accounts=accounts, children=children)
    with open_writer(store) as writer:
        ids = {tx.external_id: writer.post(tx).id for tx in TRANSACTIONS}
        writer.transition(ids["pending-then-posted"], "posted")
        writer.transition(ids["pending-then-archived"], "archived")
        writer.reverse(ids["spend-1"], effective_at="2026-02-11T00:00:00Z")
    if bulk_transactions:
        batch = generate_batch(bulk_transactions, seed=7, prefix="bulk")
        result = post_batch(store, normalise_entries(batch), source="bulk")
        assert result.quarantined == 0, result.reason_counts


def ledger_balances(store: Store) -> dict[str, tuple[int, int, int]]:
    """The ledger's own (posted, pending, available) amounts per account id, as Python ints."""
    from ledger_pipeline.ledger.balances import account_balances

    with store.connect() as conn:
        return {
            row["account_id"]: (row["posted_amount"], row["pending_amount"], row["available_amount"])
            for row in account_balances(conn)
        }
