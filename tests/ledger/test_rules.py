"""Every double-entry rule of ``rules.py`` refuses what it should, with its stable reason code, on both
engines and on both write paths (bulk batch and one transaction at a time)."""

from __future__ import annotations

import pytest

from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer
from ledger_pipeline.ledger.violations import REASON_CODES
from tests.ledger.conftest import amounts, balances, counts, invariant_violations, post, reasons, tx

BIG38 = "9" * 38
BIG39 = "1" + "0" * 38


def bad(**header: object) -> list[dict]:
    """The refused transaction "bad", one unit from cash to revenue, with ``header`` on its rows."""
    return tx("bad", ("cash", "debit", "1"), ("revenue", "credit", "1"), **header)

# (case id, rows of the refused transaction "bad", the reason code it must carry)
REFUSED: list[tuple[str, list[dict], str]] = [
    ("missing_external_id", [{"account": "cash", "direction": "debit", "amount": "1"},
                             {"account": "revenue", "direction": "credit", "amount": "1"}], "missing_field"),
    ("missing_account", tx("bad", ("", "debit", "1"), ("revenue", "credit", "1")), "missing_field"),
    ("missing_direction", tx("bad", ("cash", "", "1"), ("revenue", "credit", "1")), "missing_field"),
    ("missing_amount", tx("bad", ("cash", "debit", ""), ("revenue", "credit", "1")), "missing_field"),
    ("bad_direction", tx("bad", ("cash", "left", "1"), ("revenue", "credit", "1")), "invalid_direction"),
    ("bad_status", bad(status="settled"), "invalid_status"),
    ("bad_effective_at", bad(effective_at="yesterday"), "invalid_effective_at"),
    ("bad_effective_at_date", bad(effective_at="2024-02-30"), "invalid_effective_at"),
    ("one_entry", tx("bad", ("cash", "debit", "1")), "too_few_entries"),
    ("two_debits", tx("bad", ("cash", "debit", "1"), ("revenue", "debit", "1")), "one_sided"),
    ("two_credits", tx("bad", ("cash", "credit", "1"), ("revenue", "credit", "1")), "one_sided"),
    ("mixed_status", [*tx("bad", ("cash", "debit", "1"), status="posted"),
                      *tx("bad", ("revenue", "credit", "1"), status="pending")], "inconsistent_transaction"),
    ("mixed_effective_at", [*tx("bad", ("cash", "debit", "1"), effective_at="2024-01-01T00:00:00Z"),
                            *tx("bad", ("revenue", "credit", "1"), effective_at="2024-01-02T00:00:00Z")],
     "inconsistent_transaction"),
    ("mixed_description", [*tx("bad", ("cash", "debit", "1"), description="a"),
                           *tx("bad", ("revenue", "credit", "1"), description="b")], "inconsistent_transaction"),
    ("mixed_ledger", [*tx("bad", ("cash", "debit", "1"), ledger="main"),
                      *tx("bad", ("revenue", "credit", "1"), ledger="other")], "inconsistent_transaction"),
    ("unbalanced", tx("bad", ("cash", "debit", "10.00"), ("revenue", "credit", "9.99")), "unbalanced"),
    ("unbalanced_by_one_minor_unit_at_38_digits",
     [{"external_id": "bad", "account": "points_pool", "direction": "debit", "amount_minor": BIG38},
      {"external_id": "bad", "account": "points", "direction": "credit", "amount_minor": "9" * 37 + "8"}],
     "unbalanced"),
    # balanced in total (10 + 5 = 15) but not per currency: USD 10 vs 15, EUR 5 vs 0
    ("unbalanced_per_currency", tx("bad", ("cash", "debit", "10"), ("eur_cash", "debit", "5"),
                                   ("revenue", "credit", "15")), "unbalanced"),
    ("multi_currency_one_unbalanced", tx("bad", ("cash", "debit", "10"), ("revenue", "credit", "10"),
                                         ("eur_cash", "debit", "5"), ("eur_revenue", "credit", "4.99")), "unbalanced"),
    ("not_a_number", tx("bad", ("cash", "debit", "ten"), ("revenue", "credit", "ten")), "invalid_amount"),
    ("exponent_notation", tx("bad", ("cash", "debit", "1e3"), ("revenue", "credit", "1e3")), "invalid_amount"),
    ("thousands_separator", tx("bad", ("cash", "debit", "1,000"), ("revenue", "credit", "1,000")), "invalid_amount"),
    ("minor_with_fraction", [{"external_id": "bad", "account": "cash", "direction": "debit", "amount_minor": "1.5"},
                             {"external_id": "bad", "account": "revenue", "direction": "credit", "amount_minor": "1.5"}],
     "invalid_amount"),
    ("zero", tx("bad", ("cash", "debit", "0.00"), ("revenue", "credit", "0")), "non_positive_amount"),
    ("negative", tx("bad", ("cash", "debit", "-5"), ("revenue", "credit", "-5")), "non_positive_amount"),
    ("negative_minor", [{"external_id": "bad", "account": "cash", "direction": "debit", "amount_minor": "-5"},
                        {"external_id": "bad", "account": "revenue", "direction": "credit", "amount_minor": "-5"}],
     "non_positive_amount"),
    ("excess_precision_usd", tx("bad", ("cash", "debit", "10.005"), ("revenue", "credit", "10.005")),
     "excess_precision"),
    ("excess_precision_jpy", tx("bad", ("jpy_cash", "debit", "100.5"), ("jpy_revenue", "credit", "100.5")),
     "excess_precision"),
    ("too_large_39_digits_minor",
     [{"external_id": "bad", "account": "points_pool", "direction": "debit", "amount_minor": BIG39},
      {"external_id": "bad", "account": "points", "direction": "credit", "amount_minor": BIG39}], "amount_too_large"),
    # 37 integer digits of USD become 39 digits of cents
    ("too_large_39_digits_after_scaling", tx("bad", ("cash", "debit", "1" * 37), ("revenue", "credit", "1" * 37)),
     "amount_too_large"),
    ("unknown_ledger", bad(ledger="nowhere"), "unknown_ledger"),
    ("unknown_account", tx("bad", ("cash", "debit", "1"), ("nobody", "credit", "1")), "unknown_account"),
    ("archived_account", tx("bad", ("retired", "debit", "1"), ("revenue", "credit", "1")), "archived_account"),
    ("currency_mismatch", bad(currency="EUR"), "currency_mismatch"),
    ("new_archived", bad(status="archived"), "invalid_status_transition"),
]


@pytest.mark.parametrize(("rows", "code"), [pytest.param(r, c, id=i) for i, r, c in REFUSED])
def test_batch_rule_refuses_with_reason_code(store, chart, rows, code):
    good = tx("good", ("cash", "debit", "2.50"), ("revenue", "credit", "2.50"))
    result = post(store, [*good, *rows])

    tx_keys = {v.tx_key for v in result.violations}
    # rows without an external_id cannot be grouped: each is its own (refused) transaction
    assert len(tx_keys) == (2 if code == "missing_field" and "external_id" not in rows[0] else 1)
    assert "good" not in tx_keys
    assert code in {v.reason_code for v in result.violations}, result.violations
    assert result.created == 1 and result.quarantined == len(tx_keys)
    assert amounts(store) == {"cash": 250, "revenue": 250}  # the good transaction posted, nothing of the bad
    assert counts(store) == {"ledger_transactions": 1, "ledger_entries": 2, "quarantine": len(tx_keys)}
    assert invariant_violations(store) == []


def test_every_reason_code_of_rules_is_exercised(store, chart):
    """Every reason code a write can be refused with (rules 1-7 of the registry) is produced here by some
    input: each case of ``REFUSED``, and the codes that need stored state or a whole write. Rule 8's codes
    come from the invariant check over stored data (``test_invariants.py``), not from a write."""
    cases = [dict(r, external_id=f"bad-{case}" if "external_id" in r else None)
             for case, rows, _ in REFUSED for r in rows]  # independent transactions: one batch
    produced = {v.reason_code for v in post(store, cases).violations}
    post(store, tx("kept", ("cash", "debit", "1"), ("revenue", "credit", "1")))
    produced |= {v.reason_code for v in post(store, tx("kept", ("cash", "debit", "2"), ("revenue", "credit", "2")))
                 .violations}  # external_id_conflict
    produced |= {v.reason_code for v in post(store, tx("kept", ("cash", "debit", "1"), ("revenue", "credit", "1"),
                                                        status="pending")).violations}  # immutable_posted
    produced |= {v.reason_code for v in post(store, tx("overdraw", ("wallet", "debit", "1"),
                                                        ("payable", "credit", "1"))).violations}
    big = [EntryInput("points_pool", "debit", int(BIG38)), EntryInput("points", "credit", int(BIG38))]
    with open_writer(store) as writer:
        writer.post(TransactionInput(big, external_id="big-1"))
        with pytest.raises(RuleViolation) as refused:
            writer.post(TransactionInput(big, external_id="big-2"))  # the balance would pass 38 digits
        produced |= set(refused.value.reason_codes)
    # codes of hostile input, each produced on both engines in test_never_silently_wrong.py
    hostile = {"ambiguous_account", "invalid_text", "invalid_external_id", "invalid_metadata", "duplicate_external_id_in_batch",
               "conflicting_amounts", "unknown_reversal_target", "already_reversed"}
    registry = {code for code, (rule, _) in REASON_CODES.items() if rule != 8} - hostile
    assert produced - hostile == registry, (registry - produced, produced - registry)
    assert invariant_violations(store) == []


def test_violations_are_all_collected_not_just_the_first(store, chart):
    rows = tx("bad", ("nobody", "left", "1.001"), ("retired", "debit", "-1"), status="settled")
    result = post(store, rows)
    assert reasons(result)["bad"] >= {"unknown_account", "invalid_direction", "archived_account",
                                      "non_positive_amount", "invalid_status", "one_sided"}


def test_violation_names_the_record_and_line(store, chart):
    rows = [*tx("ok", ("cash", "debit", "1"), ("revenue", "credit", "1")),
            *tx("bad", ("cash", "debit", "1.001"), ("revenue", "credit", "1"))]
    result = post(store, rows)
    lines = {v.line for v in result.violations if v.reason_code == "excess_precision"}
    assert lines == {3}
    assert any("test:3" in v.detail and "1.001" in v.detail for v in result.violations)


def test_38_digit_amounts_are_accepted_exactly(store, chart):
    rows = [{"external_id": "big", "account": "points_pool", "direction": "debit", "amount_minor": BIG38},
            {"external_id": "big", "account": "points", "direction": "credit", "amount_minor": BIG38}]
    result = post(store, rows)
    assert result.created == 1 and not result.violations
    assert amounts(store) == {"points": int(BIG38), "points_pool": int(BIG38)}
    with store.connect() as conn:
        stored = {int(a) for (a,) in conn.all("SELECT amount FROM ledger_entries")}
    assert stored == {int(BIG38)}
    assert invariant_violations(store) == []


def test_balance_is_decided_exactly_on_both_sides_of_the_staged_sum(store, chart):
    """Transactions whose amounts have at most 28 digits are judged by the sum staged with their other
    aggregates (``staging.SMALL_AMOUNT``), larger ones per currency: on either side of that boundary a
    transaction unbalanced by one minor unit is refused and a balanced one posts, and debits of one
    currency never offset credits of another."""
    small, large = "9" * 28, "1" + "0" * 28

    def pair(external_id: str, debit: str, credit: str) -> list[dict]:
        return [{"external_id": external_id, "account": "points_pool", "direction": "debit", "amount_minor": debit},
                {"external_id": external_id, "account": "points", "direction": "credit", "amount_minor": credit}]

    rows = [*pair("small_ok", small, small), *pair("large_ok", large, large),
            *pair("small_off", small, str(int(small) - 1)), *pair("large_off", large, str(int(large) + 1)),
            {"external_id": "mixed_ok", "account": "points_pool", "direction": "debit", "amount_minor": large},
            {"external_id": "mixed_ok", "account": "points", "direction": "credit", "amount_minor": small},
            {"external_id": "mixed_ok", "account": "points", "direction": "credit", "amount_minor": "1"},
            *tx("netted", ("cash", "debit", "10"), ("eur_revenue", "credit", "10"))]
    result = post(store, rows)
    assert reasons(result) == {"small_off": {"unbalanced"}, "large_off": {"unbalanced"}, "netted": {"unbalanced"}}
    assert result.created == 3
    details = {(v.tx_key, v.detail) for v in result.violations}
    assert ("small_off", f"transaction small_off POINTS: debits {small} != credits {int(small) - 1} (minor units)") \
        in details
    assert {detail for key, detail in details if key == "netted"} == {
        "transaction netted USD: debits 1000 != credits 0 (minor units)",
        "transaction netted EUR: debits 0 != credits 1000 (minor units)"}


def test_sums_past_38_digits_refuse_the_transaction(store, chart):
    """Each amount fits, but the transaction's total (and the balances) would not: that transaction is refused
    and quarantined (``balance_overflow``), its neighbour posts."""
    rows = [{"external_id": "huge", "account": "points_pool", "direction": "debit", "amount_minor": BIG38},
            {"external_id": "huge", "account": "points_pool", "direction": "debit", "amount_minor": BIG38},
            {"external_id": "huge", "account": "points", "direction": "credit", "amount_minor": BIG38},
            {"external_id": "huge", "account": "points", "direction": "credit", "amount_minor": BIG38}]
    result = post(store, [*tx("fine", ("cash", "debit", "1"), ("revenue", "credit", "1")), *rows])
    assert (result.created, result.quarantined) == (1, 1)
    assert reasons(result) == {"huge": {"balance_overflow"}}
    assert counts(store) == {"ledger_transactions": 1, "ledger_entries": 2, "quarantine": 1}
    # an account already holding 38 nines cannot take one more unit
    post(store, [{"external_id": "max", "account": "points_pool", "direction": "debit", "amount_minor": BIG38},
                 {"external_id": "max", "account": "points", "direction": "credit", "amount_minor": BIG38}])
    with open_writer(store) as writer, pytest.raises(RuleViolation) as one_more:
        writer.post(TransactionInput(entries(("points_pool", "debit", 1), ("points", "credit", 1)), external_id="+1"))
    assert one_more.value.reason_codes == ["balance_overflow"]
    # found by the rule before writing (a writer's connection reads the touched accounts' balances by
    # index), not by the database refusing the balance update: the detail names the account
    assert "would take account" in str(one_more.value) and "balance past 38 digits" in str(one_more.value)
    assert amounts(store) == {"points": int(BIG38), "points_pool": int(BIG38), "cash": 100, "revenue": 100}
    assert invariant_violations(store) == []


def test_decimal_amounts_scale_exactly_by_the_account_exponent(store, chart):
    rows = [*tx("usd", ("cash", "debit", "0012.3"), ("revenue", "credit", "12.30000")),
            *tx("jpy", ("jpy_cash", "debit", "1500"), ("jpy_revenue", "credit", "1500.000")),
            {"external_id": "minor", "account": "cash", "direction": "debit", "amount_minor": "7"},
            {"external_id": "minor", "account": "revenue", "direction": "credit", "amount_minor": "0007"}]
    result = post(store, rows)
    assert result.created == 3 and not result.violations
    assert amounts(store) == {"cash": 1237, "revenue": 1237, "jpy_cash": 1500, "jpy_revenue": 1500}


def test_explicit_matching_currency_is_accepted_case_insensitively(store, chart):
    result = post(store, tx("t", ("cash", "debit", "1"), ("revenue", "credit", "1"), currency="usd"))
    assert result.created == 1 and not result.violations


def test_account_can_be_named_by_id(store, chart):
    result = post(store, tx("t", (chart["cash"], "debit", "1"), ("revenue", "credit", "1")))
    assert result.created == 1
    assert amounts(store) == {"cash": 100, "revenue": 100}


def test_balance_limit_refuses_an_overdraft_in_a_batch(store, chart):
    rows = [*tx("fund", ("cash", "debit", "10"), ("wallet", "credit", "10")),
            *tx("spend1", ("wallet", "debit", "6"), ("revenue", "credit", "6")),
            *tx("spend2", ("wallet", "debit", "6"), ("revenue", "credit", "6"))]
    result = post(store, rows)
    assert reasons(result) == {"spend2": {"balance_limit_exceeded"}}
    assert amounts(store)["wallet"] == 400
    assert invariant_violations(store) == []


def test_balance_limit_follows_batch_order_like_one_at_a_time(store, chart):
    """Balance 100: a spend of 150 is refused, the next spend of 50 fits and posts, then 60 does not fit."""
    rows = [*tx("fund", ("cash", "debit", "100"), ("wallet", "credit", "100"), effective_at="2024-01-01"),
            *tx("s150", ("wallet", "debit", "150"), ("revenue", "credit", "150"), effective_at="2024-01-02"),
            *tx("s50", ("wallet", "debit", "50"), ("revenue", "credit", "50"), effective_at="2024-01-03"),
            *tx("s60", ("wallet", "debit", "60"), ("revenue", "credit", "60"), effective_at="2024-01-04"),
            *tx("s49", ("wallet", "debit", "49"), ("revenue", "credit", "49"), effective_at="2024-01-05")]
    result = post(store, rows)
    assert reasons(result) == {"s150": {"balance_limit_exceeded"}, "s60": {"balance_limit_exceeded"}}
    assert amounts(store)["wallet"] == 100


def test_balance_limit_with_many_overdrafts_in_one_batch(store, chart):
    """More refusals on one account than exact passes: still no overdraft, and nothing that fits is lost."""
    rows = tx("fund", ("cash", "debit", "0.10"), ("wallet", "credit", "0.10"), effective_at="2024-01-01")
    for i in range(60):
        rows += tx(f"s{i:02d}", ("wallet", "debit", "0.01"), ("revenue", "credit", "0.01"), effective_at="2024-01-02")
    result = post(store, rows)
    assert result.created == 11 and result.quarantined == 50
    assert sorted(reasons(result)) == [f"s{i:02d}" for i in range(10, 60)]
    assert balances(store)["wallet"]["available_amount"] == 0


# -- the single-transaction path applies the same rules -------------------------------------------------


def entries(*legs):
    return [EntryInput(account, direction, amount, *rest) for account, direction, amount, *rest in legs]


SINGLE_REFUSED = [
    ("one_entry", TransactionInput(entries(("cash", "debit", 100)), external_id="s"), "too_few_entries"),
    ("one_sided", TransactionInput(entries(("cash", "debit", 1), ("revenue", "debit", 1)), external_id="s"),
     "one_sided"),
    ("unbalanced", TransactionInput(entries(("cash", "debit", 100), ("revenue", "credit", 99)), external_id="s"),
     "unbalanced"),
    ("zero", TransactionInput(entries(("cash", "debit", 0), ("revenue", "credit", 0)), external_id="s"),
     "non_positive_amount"),
    ("negative", TransactionInput(entries(("cash", "debit", -1), ("revenue", "credit", -1)), external_id="s"),
     "non_positive_amount"),
    ("too_large", TransactionInput(entries(("points_pool", "debit", 10**38), ("points", "credit", 10**38)),
                                   external_id="s"), "amount_too_large"),
    ("unknown_account", TransactionInput(entries(("cash", "debit", 1), ("ghost", "credit", 1)), external_id="s"),
     "unknown_account"),
    ("archived", TransactionInput(entries(("retired", "debit", 1), ("revenue", "credit", 1)), external_id="s"),
     "archived_account"),
    ("currency", TransactionInput(entries(("cash", "debit", 1, "EUR"), ("revenue", "credit", 1, "EUR")),
                                  external_id="s"), "currency_mismatch"),
    ("unknown_ledger", TransactionInput(entries(("cash", "debit", 1), ("revenue", "credit", 1)), external_id="s",
                                        ledger="elsewhere"), "unknown_ledger"),
    ("status", TransactionInput(entries(("cash", "debit", 1), ("revenue", "credit", 1)), external_id="s",
                                status="done"), "invalid_status"),
    ("effective_at", TransactionInput(entries(("cash", "debit", 1), ("revenue", "credit", 1)), external_id="s",
                                      effective_at="not a time"), "invalid_effective_at"),
    ("limit", TransactionInput(entries(("wallet", "debit", 1), ("revenue", "credit", 1)), external_id="s"),
     "balance_limit_exceeded"),
]


@pytest.mark.parametrize(("payload", "code"), [pytest.param(p, c, id=i) for i, p, c in SINGLE_REFUSED])
def test_single_transaction_rule_refuses_with_reason_code(store, chart, payload, code):
    with open_writer(store) as writer:
        with pytest.raises(RuleViolation) as refused:
            writer.post(payload)
    assert code in refused.value.reason_codes
    assert counts(store) == {"ledger_transactions": 0, "ledger_entries": 0, "quarantine": 0}


def test_single_transaction_can_keep_the_refused_payload_in_quarantine(store, chart):
    payload = TransactionInput(entries(("cash", "debit", 1), ("ghost", "credit", 1)), external_id="q1")
    with open_writer(store) as writer:
        with pytest.raises(RuleViolation):
            writer.post(payload, quarantine_on_reject=True)
    assert counts(store) == {"ledger_transactions": 0, "ledger_entries": 0, "quarantine": 1}
