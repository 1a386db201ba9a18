"""Rule 8's checks really catch a broken store (they are the oracle of the other tests), on both engines."""

from __future__ import annotations

import pytest

from tests.ledger.conftest import invariant_violations, post, tx


def test_invariants_hold_after_posting(store, chart):
    post(store, [*tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")),
                 *tx("b", ("eur_cash", "debit", "2"), ("eur_revenue", "credit", "2"), status="pending")])
    assert invariant_violations(store) == []


@pytest.mark.breaks_invariants
def test_tampered_balance_is_reported_as_drift(store, chart):
    post(store, tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")))
    with store.transaction() as conn:
        conn.execute("UPDATE ledger_account_balances SET posted_debits = posted_debits + 1 WHERE ledger_account_id = :id",
                     {"id": chart["cash"]})
    found = invariant_violations(store)
    assert [(v.reason_code, v.tx_key) for v in found] == [("balance_drift", chart["cash"])]
    assert "(301, 0, 300, 0) != recomputed (300, 0, 300, 0)" in found[0].detail


@pytest.mark.breaks_invariants
def test_tampered_entry_is_reported_as_unbalanced(store, chart):
    post(store, tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")))
    with store.transaction() as conn:
        conn.execute("UPDATE ledger_entries SET amount = 299 WHERE direction = 'credit'")
    codes = sorted(v.reason_code for v in invariant_violations(store))
    # posted and pending sums, and the transaction itself
    assert codes == ["balance_drift", "ledger_unbalanced", "ledger_unbalanced", "transaction_unbalanced"]


def test_trial_balance_is_exact_past_38_digits_in_total(store, chart):
    """Each balance fits in 38 digits, the currency's total over two accounts does not."""
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
    from ledger_pipeline.ledger.invariants import trial_balance

    with store.transaction() as conn:
        ensure_account(conn, "main", AccountSpec(name="points_pool_2", normal_balance="debit", currency="POINTS"))
        ensure_account(conn, "main", AccountSpec(name="points_2", normal_balance="credit", currency="POINTS"))
    big = "9" * 38
    rows = []
    for n, (debit, credit) in enumerate((("points_pool", "points"), ("points_pool_2", "points_2"))):
        rows += [{"external_id": f"big{n}", "account": debit, "direction": "debit", "amount_minor": big},
                 {"external_id": f"big{n}", "account": credit, "direction": "credit", "amount_minor": big}]
    assert post(store, rows).created == 2
    with store.connect() as conn:
        points = next(r for r in trial_balance(conn) if r["currency"] == "POINTS")
    assert points["posted_debits"] == points["posted_credits"] == 2 * int(big)
    assert invariant_violations(store) == []


def _corrupt(store, *statements: str) -> list:
    """Apply raw SQL to a posted store (dropping PostgreSQL's unique indexes first, as a bad restore
    would); the invariant violations found afterwards."""
    with store.transaction() as conn:
        for index in ("ledger_transactions_pk", "ledger_entries_pk", "ledger_transactions_external_id"):
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        for statement in statements:
            conn.execute(statement)
    return invariant_violations(store)


def _posted(store) -> None:
    post(store, [*tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")),
                 *tx("b", ("cash", "debit", "2"), ("revenue", "credit", "2"))])


@pytest.mark.breaks_invariants
def test_a_transaction_id_stored_twice_is_reported(store, chart):
    _posted(store)
    found = _corrupt(store, "UPDATE ledger_transactions SET id = (SELECT id FROM ledger_transactions ORDER BY id LIMIT 1)")
    assert "duplicate_transaction_id" in {v.reason_code for v in found}


@pytest.mark.breaks_invariants
def test_an_entry_id_stored_twice_is_reported(store, chart):
    _posted(store)
    found = _corrupt(store, "UPDATE ledger_entries SET id = (SELECT id FROM ledger_entries ORDER BY id LIMIT 1) "
                            "WHERE direction = 'debit'")
    assert "duplicate_entry_id" in {v.reason_code for v in found}


@pytest.mark.breaks_invariants
def test_an_entry_without_its_transaction_is_reported(store, chart):
    _posted(store)
    found = _corrupt(store, "DELETE FROM ledger_transactions WHERE external_id = 'b'")
    assert {v.reason_code for v in found} == {"orphan_entry"}


@pytest.mark.breaks_invariants
def test_an_unbalanced_transaction_is_reported_even_when_the_ledger_balances(store, chart):
    _posted(store)
    # a credit moved from one transaction to the other: every ledger-wide sum and balance still agrees
    found = _corrupt(store, "UPDATE ledger_entries SET ledger_transaction_id = (SELECT id FROM ledger_transactions "
                            "WHERE external_id = 'a') WHERE direction = 'credit'")
    assert len([v for v in found if v.reason_code == "transaction_unbalanced"]) == 2


@pytest.mark.breaks_invariants
def test_an_external_id_stored_twice_is_reported(store, chart):
    _posted(store)
    found = _corrupt(store, "UPDATE ledger_transactions SET external_id = 'a'")
    assert {v.reason_code for v in found} == {"duplicate_external_id"}
