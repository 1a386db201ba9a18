"""Many writers at once, each thread with its own ``open_writer`` connection: balance limits hold (no
overdraft), a race on one external_id makes exactly one transaction, and a race on one pending transaction's
transition applies it once. The point is PostgreSQL (row locks, unique index, many processes); the same
tests run on DuckDB, where threads of one process share the file."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest

from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer, post_transaction
from ledger_pipeline.ledger.store import Store
from tests.ledger.conftest import balances, invariant_violations

WRITERS = 8


@pytest.fixture
def pg_store(store, chart) -> Store:
    """The chart on each engine (named for the engine that matters most here)."""
    return store


def run_writers(store, work, n=WRITERS):
    """Run ``work(writer, index)`` in ``n`` threads released together; returns their results and errors."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def target(i):
        try:
            with open_writer(store, actor=f"writer-{i}") as writer:
                barrier.wait()
                results[i] = work(writer, i)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert errors == [], errors
    return results


def test_concurrent_writers_never_overdraw_a_limited_account(pg_store):
    # DuckDB's single-transaction path is far slower per call; fewer writes keep the test short there
    per_writer, funding = (25, 20_000) if pg_store.is_postgres else (8, 5_000)
    post_transaction(pg_store, TransactionInput(
        [EntryInput("cash", "debit", funding), EntryInput("wallet", "credit", funding)], external_id="fund"))

    def spend(writer, i):
        rng = random.Random(i)
        accepted, refused = [], 0
        for k in range(per_writer):
            amount = rng.randint(50, 600)
            status = "pending" if k % 5 == 0 else "posted"
            try:
                writer.post(TransactionInput([EntryInput("wallet", "debit", amount),
                                              EntryInput("payable", "credit", amount)],
                                             external_id=f"spend-{i}-{k}", status=status))
                accepted.append(amount)
            except RuleViolation as exc:
                assert exc.reason_codes == ["balance_limit_exceeded"]
                refused += 1
            # a top-up now and then, so the balance moves both ways while others race
            if k % 8 == 7:
                writer.post(TransactionInput([EntryInput("cash", "debit", 300), EntryInput("wallet", "credit", 300)],
                                             external_id=f"topup-{i}-{k}"))
        return accepted, refused

    results = run_writers(pg_store, spend)
    accepted = sum(sum(a) for a, _ in results)
    refused = sum(r for _, r in results)
    topups = WRITERS * (per_writer // 8) * 300
    assert refused > 0  # the limit was really contended
    wallet = balances(pg_store)["wallet"]
    assert wallet["available_amount"] >= 0
    assert wallet["available_amount"] == funding + topups - accepted
    assert wallet["pending_amount"] == funding + topups - accepted
    assert balances(pg_store)["payable"]["pending_amount"] == accepted
    assert invariant_violations(pg_store) == []
    with pg_store.connect() as conn:
        n = conn.scalar("SELECT count(*) FROM ledger_transactions WHERE external_id LIKE 'spend-%'")
    assert n == sum(len(a) for a, _ in results)


def test_concurrent_posts_of_one_external_id_make_one_transaction(pg_store):
    payload = TransactionInput([EntryInput("cash", "debit", 777), EntryInput("revenue", "credit", 777)],
                               external_id="race", effective_at="2024-06-01T00:00:00Z")
    results = run_writers(pg_store, lambda writer, i: writer.post(payload))
    assert Counter(r.action for r in results) == {"create": 1, "noop": WRITERS - 1}
    assert len({r.id for r in results}) == 1
    with pg_store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 1
        assert conn.scalar("SELECT count(*) FROM ledger_entries") == 2
    assert balances(pg_store)["cash"]["posted_amount"] == 777
    assert invariant_violations(pg_store) == []


def test_concurrent_different_payloads_of_one_external_id_one_wins(pg_store):
    def post_own(writer, i):
        try:
            return writer.post(TransactionInput([EntryInput("cash", "debit", 100 + i),
                                                 EntryInput("revenue", "credit", 100 + i)], external_id="contested"))
        except RuleViolation as exc:
            return exc.reason_codes

    results = run_writers(pg_store, post_own)
    winners = [r for r in results if not isinstance(r, list)]
    assert len(winners) == 1 and winners[0].action == "create"
    assert [r for r in results if isinstance(r, list)] == [["external_id_conflict"]] * (WRITERS - 1)
    with pg_store.connect() as conn:
        amount = conn.scalar("SELECT amount FROM ledger_entries WHERE direction = 'debit'")
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 1
    assert balances(pg_store)["cash"]["posted_amount"] == int(amount)


def test_concurrent_transitions_of_one_pending_transaction_apply_once(pg_store):
    post_transaction(pg_store, TransactionInput(
        [EntryInput("cash", "debit", 500), EntryInput("revenue", "credit", 500)], external_id="hold",
        status="pending"))

    def settle(writer, i):
        try:
            return writer.transition("hold", "posted" if i % 2 == 0 else "archived").action
        except RuleViolation as exc:
            return exc.reason_codes[0]

    results = Counter(run_writers(pg_store, settle))
    assert results["transition"] == 1, results
    with pg_store.connect() as conn:
        status, version = conn.one("SELECT status, version FROM ledger_transactions WHERE external_id = 'hold'")
    assert version == 2
    cash = balances(pg_store)["cash"]
    if status == "posted":
        assert (cash["posted_debits"], cash["pending_debits"]) == (500, 500)
    else:
        assert (cash["posted_debits"], cash["pending_debits"]) == (0, 0)
    assert invariant_violations(pg_store) == []


def test_same_external_id_on_disjoint_accounts_makes_one_transaction(pg_store):
    """No shared balance row to conflict on: only the unique key (or DuckDB's write lock) can stop this."""
    pairs = [("cash", "revenue"), ("eur_cash", "eur_revenue"), ("jpy_cash", "jpy_revenue"), ("points_pool", "points")]

    def post_own(writer, i):
        debit, credit = pairs[i % len(pairs)]
        try:
            return writer.post(TransactionInput([EntryInput(debit, "debit", 10), EntryInput(credit, "credit", 10)],
                                                external_id="one-key")).action
        except RuleViolation as exc:
            return exc.reason_codes[0]

    results = Counter(run_writers(pg_store, post_own))
    assert results["create"] == 1
    assert results["create"] + results["noop"] + results["external_id_conflict"] == WRITERS
    with pg_store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 1
        assert conn.scalar("SELECT count(*) FROM ledger_entries") == 2
    assert invariant_violations(pg_store) == []


def test_batches_racing_on_the_same_external_ids_post_each_once(pg_store):
    """Several processes posting overlapping batches: each transaction exists once, balances add up."""
    from ledger_pipeline.ledger.posting import post_batch
    from tests.ledger.conftest import batch, tx

    def rows_for(i):
        shared = [r for k in range(5) for r in tx(f"shared-{k}", ("cash", "debit", "1"), ("revenue", "credit", "1"),
                                                   effective_at="2024-07-01")]
        own = tx(f"own-{i}", ("cash", "debit", "2"), ("revenue", "credit", "2"), effective_at="2024-07-01")
        return batch([*shared, *own], source_name=f"batch-{i}")

    barrier = threading.Barrier(4)
    errors, results = [], []

    def run(i):
        try:
            table = rows_for(i)
            barrier.wait()
            results.append(post_batch(pg_store, table))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a batch writer hung"
    assert errors == []
    assert sum(r.created for r in results) == 5 + 4
    with pg_store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions") == 9
    assert balances(pg_store)["cash"]["posted_amount"] == 500 + 4 * 200
    assert invariant_violations(pg_store) == []
