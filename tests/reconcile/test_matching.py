"""Matching and account reconciliation on generated scenarios whose right answer is known (both engines)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger_pipeline.reconcile import run_reconciliation, variance_breaches
from tests.reconcile import scenario
from tests.reconcile.scenario import BASE, generate, load_planted

AS_OF = date(2025, 4, 15)


def _matches(store) -> set[tuple[frozenset, frozenset, str]]:
    """Match groups as (bank line tags, ledger external ids, rule)."""
    with store.connect() as conn:
        rows = conn.all(
            "SELECT m.id, m.rule, i.side, CASE WHEN i.side = 'bank' THEN split_part(l.text, ' ', 1) ELSE t.external_id END "
            "FROM recon_matches m JOIN recon_match_items i ON i.match_id = m.id "
            "LEFT JOIN bank_statement_lines l ON i.side = 'bank' AND l.id = i.item_id "
            "LEFT JOIN ledger_transactions t ON i.side = 'ledger' AND CAST(t.id AS TEXT) = i.item_id")
    groups: dict[str, tuple[set, set, str]] = {}
    for match_id, rule, side, key in rows:
        bank, ledger, _ = groups.setdefault(match_id, (set(), set(), rule))
        (bank if side == "bank" else ledger).add(key)
    return {(frozenset(b), frozenset(lg), r) for b, lg, r in groups.values()}


def _open_exceptions(store) -> dict[tuple[str, str], tuple[str, int]]:
    with store.connect() as conn:
        rows = conn.all(
            "SELECT u.side, CASE WHEN u.side = 'bank' THEN split_part(l.text, ' ', 1) ELSE t.external_id END, u.reason, "
            "u.age_days, u.item_date FROM recon_unmatched u "
            "LEFT JOIN bank_statement_lines l ON u.side = 'bank' AND l.id = u.item_id "
            "LEFT JOIN ledger_transactions t ON u.side = 'ledger' AND CAST(t.id AS TEXT) = u.item_id "
            "WHERE u.status = 'open'")
    for _, _, _, age, item_date in rows:
        assert age == (AS_OF - item_date).days
    return {(side, key): (reason, age) for side, key, reason, age, _ in rows}


def test_generated_scenario_finds_every_match_and_break(store):
    scenario.setup_bank_account(store)
    planted = generate(seed=11, pairs=120, window=3)
    expected_variances = load_planted(store, planted)

    result = run_reconciliation(store, as_of=AS_OF, window_days=3)

    assert _matches(store) == set(planted.groups)  # every planted match, with its rule, and nothing else
    exceptions = _open_exceptions(store)
    assert {k: reason for k, (reason, _) in exceptions.items()} == planted.unmatched
    assert result.matching.bank_unmatched == sum(1 for side, _ in planted.unmatched if side == "bank")
    assert result.matching.ledger_unmatched == sum(1 for side, _ in planted.unmatched if side == "ledger")
    by_rule = {}
    for _, _, rule in planted.groups:
        by_rule[rule] = by_rule.get(rule, 0) + 1
    assert result.matching.matches_by_rule == by_rule

    variances = {v.statement_date: v.variance for v in result.variances}
    assert variances == expected_variances  # exact, for every statement date
    assert any(expected_variances.values())
    breaches = variance_breaches(store, tolerance=0)
    assert {v.statement_date for v in breaches} == {d for d, v in expected_variances.items() if v != 0}
    largest = max(abs(v) for v in expected_variances.values())
    assert variance_breaches(store, tolerance=largest) == []
    assert result.statement_breaks == []


def test_rerun_changes_nothing_and_rematch_is_identical(store):
    scenario.setup_bank_account(store)
    planted = generate(seed=5, pairs=60)
    load_planted(store, planted)
    run_reconciliation(store, as_of=AS_OF)

    def snapshot():
        with store.connect() as conn:
            return (sorted(conn.all("SELECT match_id, side, item_id, amount FROM recon_match_items")),
                    sorted(conn.all("SELECT id, rule, bank_total, ledger_total FROM recon_matches")),
                    sorted(conn.all("SELECT side, item_id, reason, status FROM recon_unmatched")),
                    sorted(conn.all("SELECT id, variance FROM recon_balance_variances")))

    first = snapshot()
    again = run_reconciliation(store, as_of=AS_OF)
    assert again.matching.matches_by_rule == {}
    assert snapshot() == first
    redo = run_reconciliation(store, as_of=AS_OF, rematch=True)
    assert sum(redo.matching.matches_by_rule.values()) == len(planted.groups)
    assert snapshot() == first  # the same matches, with the same ids


@pytest.mark.parametrize("window", [0, 1])
def test_window_bounds_amount_matching(store, window):
    scenario.setup_bank_account(store)
    scenario.post_cash(store, [("erp:a", 500, BASE, None), ("erp:b", 700, BASE, None)])
    scenario.load_lines(store, date(2025, 3, 2), [(BASE, 500, "A"), (date(2025, 3, 2), 700, "B")], closing=1200)
    result = run_reconciliation(store, as_of=AS_OF, window_days=window)
    assert result.matching.matches_by_rule == ({"amount_date": 1} if window == 0 else {"amount_date": 2})
    reasons = {(s, r) for (s, _), (r, _) in _open_exceptions(store).items()}
    assert reasons == ({("bank", "amount_outside_window"), ("ledger", "amount_outside_window")} if window == 0
                       else set())


def test_ties_are_broken_by_nearest_then_earliest_then_id(store):
    scenario.setup_bank_account(store)
    d = lambda n: date(2025, 3, n)  # noqa: E731
    # Two ledger items one day either side of the bank line: the earlier one wins.
    # Two bank lines equally near one ledger item: the earlier line wins; the other stays open.
    scenario.post_cash(store, [("erp:before", 900, d(9), None), ("erp:after", 900, d(11), None),
                               ("erp:single", 444, d(20), None)])
    scenario.load_lines(store, d(22), [(d(10), 900, "X1"), (d(19), 444, "Y1"), (d(21), 444, "Y2")], closing=0)
    run_reconciliation(store, as_of=AS_OF)
    assert _matches(store) == {(frozenset({"X1"}), frozenset({"erp:before"}), "amount_date"),
                               (frozenset({"Y1"}), frozenset({"erp:single"}), "amount_date")}
    assert set(_open_exceptions(store)) == {("ledger", "erp:after"), ("bank", "Y2")}


def test_new_data_extends_matches_and_resolves_exceptions(store):
    scenario.setup_bank_account(store)
    scenario.post_cash(store, [("erp:a", 1500, BASE, None), ("erp:b", 2500, BASE, None)])
    scenario.load_lines(store, BASE, [(BASE, 1500, "A")], closing=1500, ref="S1")
    first = run_reconciliation(store, as_of=AS_OF)
    assert (first.matching.bank_matched, first.matching.ledger_unmatched) == (1, 1)
    before = _matches(store)
    scenario.load_lines(store, date(2025, 3, 2), [(date(2025, 3, 2), 2500, "B")], closing=4000, ref="S2")
    second = run_reconciliation(store, as_of=AS_OF)
    assert second.matching.resolved == 1 and second.matching.ledger_unmatched == 0
    assert before < _matches(store)
    assert _open_exceptions(store) == {}


def test_archived_transaction_loses_its_match(store):
    from ledger_pipeline.ledger.posting import open_writer

    scenario.setup_bank_account(store)
    scenario.post_cash(store, [("erp:p", 800, BASE, None, "pending")])
    scenario.load_lines(store, BASE, [(BASE, 800, "P")], closing=800)
    assert run_reconciliation(store, as_of=AS_OF).matching.bank_matched == 1
    with open_writer(store) as writer:
        writer.transition("erp:p", "archived")
    result = run_reconciliation(store, as_of=AS_OF)
    assert result.matching.dropped_stale == 1
    assert set(_open_exceptions(store)) == {("bank", "P")}
    assert _matches(store) == set()
