"""Property-based tests (hypothesis) on both engines: random valid batches keep total debits = total
credits per currency, stored balances equal both the balances recomputed from entries (rule 8) and an
independent model computed here in Python, and posting a batch twice is a no-op.

Each example hits a database, so example counts are modest. Examples share the test's store (hypothesis
runs them inside one test call); they use fresh external_ids and compare balance *changes*.

Every run draws new examples from a random seed, printed with a failure; ``LEDGER_PROPERTY_SEED=<seed>``
runs those examples again. Hostile transactions (unbalanced, unknown accounts, fractional amounts) are
mixed into the valid ones, and a limited account gets more refusals in one batch than
``LIMIT_EXACT_PASSES``, past which rule 7 falls back to refusing every violator at once.
"""

from __future__ import annotations

import os
import random
import uuid
from collections import defaultdict
from decimal import Context, Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

from ledger_pipeline.ledger.invariants import trial_balance
from ledger_pipeline.ledger.money import AmountError, to_minor
from ledger_pipeline.ledger.rules import LIMIT_EXACT_PASSES
from tests.ledger.conftest import CHART, balances, invariant_violations, post, reasons

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("LEDGER_PROPERTY_SEED") or random.SystemRandom().randrange(2**32))
print(f"property tests: hypothesis seed {SEED} (LEDGER_PROPERTY_SEED={SEED} draws the same examples)")


def settings_for(max_examples: int):
    """Hypothesis settings of this module with ``max_examples``, and ``SEED`` (noted with any failure)."""
    def apply(test):
        # no shrinking: every example hits a database, so shrinking a failure took minutes; the failing
        # example is reported as drawn, and its seed draws it again
        test = settings(max_examples=max_examples, deadline=None, database=None,
                        phases=[Phase.explicit, Phase.reuse, Phase.generate],
                        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])(test)
        return seed(SEED)(test)
    return apply


SETTINGS = settings_for(25)

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


@SETTINGS
@given(data=st.data())
def test_random_valid_batches_keep_the_books_balanced(store, chart, data):
    note(f"LEDGER_PROPERTY_SEED={SEED}")
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


@SETTINGS
@given(data=st.data())
def test_random_transitions_keep_the_books_balanced(store, chart, data):
    note(f"LEDGER_PROPERTY_SEED={SEED}")
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


@SETTINGS
@given(spends=st.lists(st.integers(1, 400), min_size=1, max_size=12), funding=st.integers(0, 1500),
       pending=st.lists(st.booleans(), min_size=12, max_size=12))
def test_random_spends_never_take_a_limited_account_below_its_limit(store, chart, spends, funding, pending):
    note(f"LEDGER_PROPERTY_SEED={SEED}")
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


@SETTINGS
@given(amounts=st.lists(st.tuples(AMOUNT_TEXT, st.sampled_from(["cash", "jpy_cash", "points_pool"])),
                        min_size=1, max_size=8))
def test_sql_amount_conversion_agrees_with_money_to_minor(store, chart, amounts):
    """The batch path converts amounts in SQL; ``money.to_minor`` does it in Python. They must agree on
    every value and on every refusal (excess precision, zero/negative, more than 38 digits)."""
    note(f"LEDGER_PROPERTY_SEED={SEED}")
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


# A hostile transaction of each kind and the reason codes that refuse it (those only: a refusal for the
# wrong reason would hide the rule that should have caught it)
HOSTILE_CODES = {
    "unbalanced": {"unbalanced"},
    "unknown_account": {"unknown_account"},
    "fractional_minor_units": {"invalid_amount"},
    "excess_precision": {"excess_precision"},
}


@st.composite
def hostile_transactions(draw, prefix: str, index: int):
    """One invalid transaction: its external_id, entry rows and expected reason codes."""
    kind = draw(st.sampled_from(sorted(HOSTILE_CODES)))
    currencies = ["EUR", "USD"] if kind == "excess_precision" else sorted(BY_CURRENCY)
    currency = draw(st.sampled_from(currencies))
    amount = draw(st.integers(1, 10**9))
    key = f"{prefix}-x{index}"
    rows = [{"external_id": key, "account": draw(st.sampled_from(BY_CURRENCY[currency])), "direction": direction,
             "amount_minor": str(amount)} for direction in ("debit", "credit")]
    if kind == "unbalanced":
        rows[1]["amount_minor"] = str(amount + draw(st.integers(1, 1000)))
    elif kind == "unknown_account":
        rows[draw(st.integers(0, 1))]["account"] = f"nobody-{index}"
    elif kind == "fractional_minor_units":
        fraction = draw(st.integers(1, 9))
        for row in rows:
            row["amount_minor"] = f"{amount}.{fraction}"
    else:  # one decimal place more than the currency has, its last digit not zero
        digits = f"{draw(st.integers(0, 99)):02d}{draw(st.integers(1, 9))}"
        for row in rows:
            del row["amount_minor"]
            row["amount"] = f"{amount}.{digits}"
    return key, rows, HOSTILE_CODES[kind]


@settings_for(15)
@given(data=st.data())
def test_hostile_transactions_are_refused_with_their_codes_and_the_valid_ones_post(store, chart, data):
    note(f"LEDGER_PROPERTY_SEED={SEED}")
    valid_rows, legs = data.draw(batches())
    prefix = valid_rows[0]["external_id"].rsplit("-", 1)[0]
    hostile = [data.draw(hostile_transactions(prefix, i)) for i in range(data.draw(st.integers(1, 4)))]
    by_tx: dict[str, list[dict]] = defaultdict(list)
    for row in valid_rows:
        by_tx[row["external_id"]].append(row)
    for key, rows, _ in hostile:
        by_tx[key] = rows
    order = data.draw(st.permutations(sorted(by_tx)))  # hostile and valid transactions interleaved
    before = sums(store)
    result = post(store, [row for key in order for row in by_tx[key]])

    assert reasons(result) == {key: codes for key, _, codes in hostile}
    assert result.created == len(by_tx) - len(hostile) and result.quarantined == len(hostile)
    after = sums(store)
    model = expected_changes(legs)  # the valid transactions' legs only
    for account in CHART:
        for key in SUMS:
            assert after[account][key] - before[account][key] == model[account][key], (account, key)
    assert invariant_violations(store) == []


def one_at_a_time(available: int, spends: list[int]) -> list[bool]:
    """Whether each spend is refused when they come one at a time against ``available`` (limit 0)."""
    refused = []
    for amount in spends:
        refused.append(available - amount < 0)
        available -= 0 if refused[-1] else amount
    return refused


def spend_rows(prefix: str, spends: list[int]) -> list[dict]:
    """Spends out of the limited wallet, all effective at the same time, so the batch's line order is the
    order of acceptance."""
    return [{"external_id": f"{prefix}-{i}", "account": account, "direction": direction, "amount_minor": amount,
             "effective_at": "2024-03-01"}
            for i, amount in enumerate(spends) for account, direction in (("wallet", "debit"), ("payable", "credit"))]


def fund_wallet(store, amount: int) -> None:
    if amount:
        key = f"fund-{uuid.uuid4().hex[:10]}"
        post(store, [{"external_id": key, "account": "cash", "direction": "debit", "amount_minor": amount},
                     {"external_id": key, "account": "wallet", "direction": "credit", "amount_minor": amount}])


@settings_for(8)  # each example runs rule 7 past LIMIT_EXACT_PASSES passes
@given(funding=st.integers(0, 2000), small=st.lists(st.integers(1, 400), max_size=20),
       hopeless=st.integers(LIMIT_EXACT_PASSES + 1, LIMIT_EXACT_PASSES + 8), data=st.data())
def test_more_refusals_than_the_exact_passes_never_overdraw(store, chart, funding, small, hopeless, data):
    """More refusals on one account than ``LIMIT_EXACT_PASSES``: never an overdraft, every refusal a
    balance limit, and every decision up to the last exact pass that of the one-at-a-time order."""
    note(f"LEDGER_PROPERTY_SEED={SEED}")
    fund_wallet(store, funding)
    start = balances(store)["wallet"]["available_amount"]
    # spends that cannot fit whatever else is accepted, mixed in among ones that may
    spends = small + [start + 1 + data.draw(st.integers(0, 1000)) for _ in range(hopeless)]
    spends = data.draw(st.permutations(spends))
    prefix = uuid.uuid4().hex[:10]
    result = post(store, spend_rows(prefix, spends))

    assert {v.reason_code for v in result.violations} == {"balance_limit_exceeded"}
    refused = [f"{prefix}-{i}" in reasons(result) for i in range(len(spends))]
    accepted = sum(a for a, r in zip(spends, refused, strict=True) if not r)
    wallet = balances(store)["wallet"]
    assert wallet["available_amount"] == start - accepted >= 0
    assert all(r for a, r in zip(spends, refused, strict=True) if a > start)
    assert sum(refused) > LIMIT_EXACT_PASSES
    exact = one_at_a_time(start, spends)
    last_exact = [i for i, r in enumerate(exact) if r][LIMIT_EXACT_PASSES - 1]  # refused by the last exact pass
    assert refused[:last_exact + 1] == exact[:last_exact + 1]
    assert invariant_violations(store) == []


@pytest.mark.parametrize("hopeless", [LIMIT_EXACT_PASSES - 1, LIMIT_EXACT_PASSES])
def test_past_the_exact_passes_every_violator_is_refused_at_once(store, chart, hopeless):
    """The documented fallback (rules.py, rule 7): balance 100, ``hopeless`` spends of 1000, then 150 and
    50. One at a time, the 150 is refused and the 50 fits. Each exact pass refuses one spend in order; once
    ``LIMIT_EXACT_PASSES`` passes are used up, every spend that breaks the limit is refused at once, so with
    ``LIMIT_EXACT_PASSES`` hopeless spends ahead of them the 150 and the 50 are refused together."""
    fund_wallet(store, 100)
    spends = [1000] * hopeless + [150, 50]
    result = post(store, spend_rows("s", spends))
    refused = {int(key.split("-")[1]) for key in reasons(result)}
    fifty = len(spends) - 1
    assert one_at_a_time(100, spends)[fifty] is False
    if hopeless < LIMIT_EXACT_PASSES:  # the 150 is refused by the last exact pass; the 50 fits after it
        assert refused == set(range(fifty))
        assert balances(store)["wallet"]["available_amount"] == 50
    else:
        assert refused == set(range(len(spends)))
        assert balances(store)["wallet"]["available_amount"] == 100
    assert invariant_violations(store) == []
