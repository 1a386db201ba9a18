"""Property-based tests (hypothesis) on both engines: random valid batches keep total debits = total
credits per currency, stored balances equal both the balances recomputed from entries (rule 8) and an
independent model computed here in Python, and posting a batch twice is a no-op.

Each example hits a database, so example counts are modest. Examples share the test's store (hypothesis
runs them inside one test call); they use fresh external_ids and compare balance *changes*.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Context, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_pipeline.ledger.invariants import trial_balance
from ledger_pipeline.ledger.money import AmountError, to_minor
from tests.ledger.conftest import CHART, balances, invariant_violations, post

pytestmark = pytest.mark.slow

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# accounts of the chart that take any amount, by currency (not the limited wallet nor the archived one)
BY_CURRENCY = {
    "USD": ["cash", "revenue", "payable"],
    "EUR": ["eur_cash", "eur_revenue"],
    "JPY": ["jpy_cash", "jpy_revenue"],
    "POINTS": ["points", "points_pool"],
}
EXPONENT = {"USD": 2, "EUR": 2, "JPY": 0, "POINTS": 0}


def split(total: int, parts: int, draw) -> list[int]:
    """``total`` as ``parts`` positive integers."""
    cuts = sorted(draw(st.sets(st.integers(1, total - 1), min_size=parts - 1, max_size=parts - 1))) if parts > 1 else []
    edges = [0, *cuts, total]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


@st.composite
def transactions(draw, prefix: str, index: int):
    """One balanced transaction over 1-2 currencies, as entry rows plus its legs for the model."""
    currencies = draw(st.lists(st.sampled_from(sorted(BY_CURRENCY)), min_size=1, max_size=2, unique=True))
    status = draw(st.sampled_from(["posted", "posted", "pending"]))
    day = draw(st.integers(1, 28))
    header = {"external_id": f"{prefix}-{index}", "status": status, "effective_at": f"2024-02-{day:02d}T12:00:00Z"}
    rows, legs = [], []
    for currency in currencies:
        big = draw(st.booleans()) and currency == "POINTS"
        total = draw(st.integers(2, 10**30 if big else 10**9))
        n_debits, n_credits = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        n_debits, n_credits = min(n_debits, total), min(n_credits, total)
        for direction, parts in (("debit", n_debits), ("credit", n_credits)):
            for amount in split(total, parts, draw):
                account = draw(st.sampled_from(BY_CURRENCY[currency]))
                as_major = draw(st.booleans())
                row = {**header, "account": account, "direction": direction}
                if as_major:  # decimal text in major units, sometimes with trailing zeros
                    text = str(Decimal(amount).scaleb(-EXPONENT[currency], Context(prec=64)))  # no rounding to E+28
                    row["amount"] = text + ("0" if "." in text and draw(st.booleans()) else "")
                else:
                    row["amount_minor"] = str(amount)
                rows.append(row)
                legs.append((account, direction, amount, status))
    return rows, legs


@st.composite
def batches(draw):
    prefix = uuid.uuid4().hex[:10]
    n = draw(st.integers(1, 6))
    txs = [draw(transactions(prefix, i)) for i in range(n)]
    return [r for rows, _ in txs for r in rows], [leg for _, legs in txs for leg in legs]


def expected_changes(legs):
    """The balance change per account a batch must cause, computed without the store."""
    change = defaultdict(lambda: defaultdict(int))
    for account, direction, amount, status in legs:
        change[account][f"pending_{direction}s"] += amount
        if status == "posted":
            change[account][f"posted_{direction}s"] += amount
    return change


SUMS = ("posted_debits", "posted_credits", "pending_debits", "pending_credits")


def sums(store):
    return {name: {k: row[k] for k in SUMS} for name, row in balances(store, ledger="main").items()}


@given(data=st.data())
@SETTINGS
def test_random_valid_batches_keep_the_books_balanced(store, chart, data):
    rows, legs = data.draw(batches())
    before = sums(store)
    result = post(store, rows)
    assert not result.violations, result.violations
    assert result.created == len({r["external_id"] for r in rows})

    after = sums(store)
    model = expected_changes(legs)
    for account in CHART:
        for key in SUMS:
            assert after[account][key] - before[account][key] == model[account][key], (account, key)
    with store.connect() as conn:
        for row in trial_balance(conn):
            assert row["posted_debits"] == row["posted_credits"], row
            assert row["pending_debits"] == row["pending_credits"], row
    assert invariant_violations(store) == []

    again = post(store, rows)
    assert (again.created, again.transitioned, again.quarantined) == (0, 0, 0)
    assert again.duplicates == result.created
    assert sums(store) == after


@given(data=st.data())
@SETTINGS
def test_random_transitions_keep_the_books_balanced(store, chart, data):
    rows, legs = data.draw(batches())
    pending_rows = [dict(r, status="pending") for r in rows]
    post(store, pending_rows)
    ids = sorted({r["external_id"] for r in rows})
    outcome = {i: data.draw(st.sampled_from(["posted", "archived", "pending"])) for i in ids}
    before = sums(store)
    result = post(store, [dict(r, status=outcome[r["external_id"]]) for r in rows])
    assert not result.violations, result.violations
    assert result.transitioned == sum(1 for s in outcome.values() if s != "pending")
    after = sums(store)
    change = defaultdict(lambda: defaultdict(int))
    for row, (account, direction, amount, _) in zip(rows, legs, strict=True):
        final = outcome[row["external_id"]]
        if final == "posted":
            change[account][f"posted_{direction}s"] += amount
        elif final == "archived":
            change[account][f"pending_{direction}s"] -= amount
    for account in CHART:
        for key in SUMS:
            assert after[account][key] - before[account][key] == change[account][key], (account, key)
    assert invariant_violations(store) == []


@given(spends=st.lists(st.integers(1, 400), min_size=1, max_size=12), funding=st.integers(0, 1500),
       pending=st.lists(st.booleans(), min_size=12, max_size=12))
@SETTINGS
def test_random_spends_never_take_a_limited_account_below_its_limit(store, chart, spends, funding, pending):
    prefix = uuid.uuid4().hex[:10]
    start = balances(store)["wallet"]["available_amount"]
    rows = []
    if funding:
        rows += [{"external_id": f"{prefix}-fund", "account": "cash", "direction": "debit", "amount_minor": funding,
                  "effective_at": "2024-01-01"},
                 {"external_id": f"{prefix}-fund", "account": "wallet", "direction": "credit",
                  "amount_minor": funding, "effective_at": "2024-01-01"}]
    for i, amount in enumerate(spends):
        status = "pending" if pending[i] else "posted"
        rows += [{"external_id": f"{prefix}-{i}", "account": "wallet", "direction": "debit", "amount_minor": amount,
                  "effective_at": f"2024-01-{i + 2:02d}", "status": status},
                 {"external_id": f"{prefix}-{i}", "account": "payable", "direction": "credit", "amount_minor": amount,
                  "effective_at": f"2024-01-{i + 2:02d}", "status": status}]
    result = post(store, rows)
    refused = {v.tx_key for v in result.violations}
    assert {v.reason_code for v in result.violations} <= {"balance_limit_exceeded"}
    accepted = sum(a for i, a in enumerate(spends) if f"{prefix}-{i}" not in refused)
    wallet = balances(store)["wallet"]
    assert wallet["available_amount"] >= 0
    assert wallet["available_amount"] == start + funding - accepted
    # exactly the spends that do not fit at their turn are refused, as if they came one at a time
    running, expected_refused = start + funding, set()
    for i, amount in enumerate(spends):
        if running - amount < 0:
            expected_refused.add(f"{prefix}-{i}")
        else:
            running -= amount
    assert refused == expected_refused
    assert invariant_violations(store) == []


AMOUNT_TEXT = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e6"), max_value=Decimal("1e40"))
    .map(lambda d: format(d, "f")),
    st.from_regex(r"\A-?[0-9]{1,40}(\.[0-9]{0,4})?\Z"),
)


@given(amounts=st.lists(st.tuples(AMOUNT_TEXT, st.sampled_from(["cash", "jpy_cash", "points_pool"])),
                        min_size=1, max_size=8))
@SETTINGS
def test_sql_amount_conversion_agrees_with_money_to_minor(store, chart, amounts):
    """The batch path converts amounts in SQL; ``money.to_minor`` does it in Python. They must agree on
    every value and on every refusal (excess precision, zero/negative, more than 38 digits)."""
    prefix = uuid.uuid4().hex[:10]
    partner = {"cash": "revenue", "jpy_cash": "jpy_revenue", "points_pool": "points"}
    exponent = {"cash": 2, "jpy_cash": 0, "points_pool": 0}
    rows = []
    for i, (text, account) in enumerate(amounts):
        rows += [{"external_id": f"{prefix}-{i}", "account": account, "direction": "debit", "amount": text},
                 {"external_id": f"{prefix}-{i}", "account": partner[account], "direction": "credit", "amount": text}]
    result = post(store, rows)
    codes = defaultdict(set)
    for v in result.violations:
        codes[v.tx_key].add(v.reason_code)
    with store.connect() as conn:
        stored = dict(conn.all(
            "SELECT t.external_id, max(e.amount) FROM ledger_transactions t JOIN ledger_entries e "
            "ON e.ledger_transaction_id = t.id WHERE t.external_id LIKE :p GROUP BY t.external_id",
            {"p": f"{prefix}-%"}))
    for i, (text, account) in enumerate(amounts):
        key = f"{prefix}-{i}"
        try:
            minor = to_minor(text, exponent[account])
            expected_code = "non_positive_amount" if minor <= 0 else None
        except AmountError as exc:
            minor, expected_code = None, exc.reason_code
        if text.startswith("-"):  # a negative amount is refused as such, whatever else is wrong with it
            expected_code = "non_positive_amount"
        if expected_code is None:
            assert int(stored[key]) == minor, (text, account)
        else:
            assert key not in stored and expected_code in codes[key], (text, account, codes[key])
