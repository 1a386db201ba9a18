"""Posting semantics on both engines: idempotent replays, external_id conflicts, immutability of posted
transactions, pending -> posted | archived with Modern Treasury's balances, reversals, balances as of a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger_pipeline.ledger.errors import NotFoundError, RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer, post_transaction
from tests.ledger.conftest import amounts, balances, batch, counts, invariant_violations, post, reasons, tx

T1 = "2024-03-01T10:00:00Z"
T2 = "2024-03-02T10:00:00Z"
T3 = "2024-03-03T10:00:00Z"


def snapshot(store):
    """Everything a replay must leave alone (the audit log aside)."""
    with store.connect() as conn:
        return {
            "counts": counts(store),
            "balances": {k: {f: v[f] for f in ("posted_debits", "posted_credits", "pending_debits",
                                                 "pending_credits", "lock_version")}
                         for k, v in balances(store).items()},
            "transactions": sorted(conn.all(
                "SELECT id, external_id, status, version, CAST(updated_at AS TEXT) FROM ledger_transactions")),
            "quarantine": sorted(conn.all("SELECT id, status, attempts FROM quarantine")),
        }


MIXED_BATCH = [
    *tx("a", ("cash", "debit", "100"), ("revenue", "credit", "100"), effective_at=T1),
    *tx("b", ("cash", "debit", "5.25"), ("revenue", "credit", "5.25"), effective_at=T2, status="pending"),
    *tx("c", ("eur_cash", "debit", "3"), ("eur_revenue", "credit", "3"), ("cash", "debit", "1"),
        ("payable", "credit", "1")),
    *tx("bad1", ("cash", "debit", "1"), ("ghost", "credit", "1")),
    *tx("bad2", ("cash", "debit", "1.001"), ("revenue", "credit", "1.001")),
]


def test_batch_posts_the_valid_and_quarantines_the_rest(store, chart):
    result = post(store, MIXED_BATCH, source="unit")
    assert (result.transactions_in, result.created, result.quarantined, result.duplicates) == (5, 3, 2, 0)
    assert result.entries_in == 12 and result.entries_posted == 8
    assert result.reason_counts == {"unknown_account": 1, "excess_precision": 1}
    assert amounts(store) == {"cash": 10100, "revenue": 10000, "payable": 100, "eur_cash": 300, "eur_revenue": 300}
    assert amounts(store, "pending") == {"cash": 10625, "revenue": 10525, "payable": 100, "eur_cash": 300,
                                         "eur_revenue": 300}
    assert invariant_violations(store) == []
    with store.connect() as conn:
        sources = {s for (s,) in conn.all("SELECT DISTINCT source FROM ledger_transactions")}
        audit = conn.scalar("SELECT count(*) FROM audit_log WHERE action = 'post_batch'")
    assert sources == {"unit"} and audit == 1


def test_replaying_a_batch_changes_nothing(store, chart):
    first = post(store, MIXED_BATCH)
    before = snapshot(store)
    again = post(store, MIXED_BATCH)
    assert (again.created, again.transitioned, again.duplicates) == (0, 0, 3)
    assert again.reason_counts == first.reason_counts  # still reported as refused ...
    assert snapshot(store) == before  # ... but nothing stored changed: no new row, balance or quarantine item
    assert invariant_violations(store) == []


def test_replaying_a_single_transaction_is_a_noop(store, chart):
    payload = TransactionInput([EntryInput("cash", "debit", 500), EntryInput("revenue", "credit", 500)],
                               external_id="api-1", metadata={"order": 7}, effective_at=datetime(2024, 1, 1, tzinfo=UTC))
    with open_writer(store) as writer:
        first = writer.post(payload)
        before = snapshot(store)
        second = writer.post(payload)
    assert first.action == "create" and second.action == "noop" and second.id == first.id
    assert snapshot(store) == before


def test_resubmission_without_effective_at_is_a_noop(store, chart):
    """An omitted effective_at means "the existing transaction's", so a retry without it is the same payload."""
    payload = TransactionInput([EntryInput("cash", "debit", 5), EntryInput("revenue", "credit", 5)], external_id="x")
    first = post_transaction(store, payload)
    second = post_transaction(store, payload)
    assert (first.action, second.action, second.id) == ("create", "noop", first.id)


ORIGINAL = tx("dup", ("cash", "debit", "10"), ("revenue", "credit", "10"), effective_at=T1, description="order 1")


@pytest.mark.parametrize("other", [
    pytest.param(tx("dup", ("cash", "debit", "11"), ("revenue", "credit", "11"), effective_at=T1,
                    description="order 1"), id="amount"),
    pytest.param(tx("dup", ("cash", "debit", "10"), ("payable", "credit", "10"), effective_at=T1,
                    description="order 1"), id="account"),
    pytest.param(tx("dup", ("cash", "credit", "10"), ("revenue", "debit", "10"), effective_at=T1,
                    description="order 1"), id="direction"),
    pytest.param(tx("dup", ("cash", "debit", "10"), ("revenue", "credit", "10"), effective_at=T2,
                    description="order 1"), id="effective_at"),
    pytest.param(tx("dup", ("cash", "debit", "10"), ("revenue", "credit", "10"), effective_at=T1,
                    description="order 2"), id="description"),
    pytest.param(tx("dup", ("cash", "debit", "10"), ("revenue", "credit", "10"), effective_at=T1,
                    description="order 1", metadata='{"k": 1}'), id="metadata"),
    pytest.param(tx("dup", ("cash", "debit", "5"), ("cash", "debit", "5"), ("revenue", "credit", "10"),
                    effective_at=T1, description="order 1"), id="split-entries"),
])
def test_same_external_id_with_other_content_is_a_conflict(store, chart, other):
    post(store, ORIGINAL)
    before = snapshot(store)
    result = post(store, other)
    assert reasons(result) == {"dup": {"external_id_conflict"}}
    assert result.quarantined == 1
    after = snapshot(store)
    assert after["balances"] == before["balances"] and after["transactions"] == before["transactions"]
    assert after["counts"]["quarantine"] == 1


def test_single_writer_conflict_on_external_id(store, chart):
    with open_writer(store) as writer:
        writer.post(TransactionInput([EntryInput("cash", "debit", 10), EntryInput("revenue", "credit", 10)],
                                     external_id="k"))
        with pytest.raises(RuleViolation) as refused:
            writer.post(TransactionInput([EntryInput("cash", "debit", 11), EntryInput("revenue", "credit", 11)],
                                         external_id="k"))
    assert refused.value.reason_codes == ["external_id_conflict"]
    assert amounts(store) == {"cash": 10, "revenue": 10}


def test_external_id_is_unique_per_ledger_not_globally(store, chart):
    from tests.ledger.conftest import create_chart

    create_chart(store, ledger="second")
    rows = tx("same", ("cash", "debit", "1"), ("revenue", "credit", "1"))
    assert post(store, rows).created == 1
    assert post(store, rows, default_ledger="second").created == 1
    assert counts(store)["ledger_transactions"] == 2


# -- posted is final ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [("pending", "immutable_posted"), ("archived", "immutable_posted")])
def test_posted_transaction_cannot_change_status(store, chart, status, code):
    post(store, ORIGINAL)
    before = snapshot(store)
    changed = [dict(row, status=status) for row in ORIGINAL]
    result = post(store, changed)
    assert reasons(result) == {"dup": {code}}
    after = snapshot(store)
    assert after["transactions"] == before["transactions"] and after["balances"] == before["balances"]


def test_posted_transaction_cannot_be_archived_or_edited_by_the_writer(store, chart):
    with open_writer(store) as writer:
        created = writer.post(TransactionInput([EntryInput("cash", "debit", 10), EntryInput("revenue", "credit", 10)],
                                               external_id="final"))
        with pytest.raises(RuleViolation) as refused:
            writer.transition(created.id, "archived")
        assert refused.value.reason_codes == ["immutable_posted"]
        with pytest.raises(RuleViolation) as edited:
            writer.post(TransactionInput([EntryInput("cash", "debit", 10), EntryInput("payable", "credit", 10)],
                                         external_id="final"))
        assert edited.value.reason_codes == ["external_id_conflict"]
    with store.connect() as conn:
        row = conn.one("SELECT status, version FROM ledger_transactions WHERE external_id = 'final'")
    assert row == ("posted", 1)
    assert amounts(store) == {"cash": 10, "revenue": 10}


def test_core_offers_no_update_path_for_transactions():
    """Corrections are reversals: the public write API has no edit/update/delete of a transaction."""
    from ledger_pipeline.ledger import posting

    names = {n for n in dir(posting.LedgerWriter) if not n.startswith("_")} | set(dir(posting))
    assert not {n for n in names if any(w in n.lower() for w in ("update", "edit", "delete", "amend"))}


# -- pending -> posted | archived ------------------------------------------------------------------


def pending_payment():
    # the customer wallet (credit-normal, available >= 0) pays 30.00 to the payable account
    return TransactionInput([EntryInput("wallet", "debit", 3000), EntryInput("payable", "credit", 3000)],
                            external_id="pay-1", status="pending", effective_at=T2)


def fund_wallet(writer, amount=10000):
    writer.post(TransactionInput([EntryInput("cash", "debit", amount), EntryInput("wallet", "credit", amount)],
                                 external_id="fund", effective_at=T1))


def test_pending_then_posted_moves_pending_posted_and_available(store, chart):
    with open_writer(store) as writer:
        fund_wallet(writer)
        writer.post(pending_payment())
        wallet = balances(store)["wallet"]
        assert (wallet["posted_amount"], wallet["pending_amount"], wallet["available_amount"]) == (10000, 7000, 7000)
        payable = balances(store)["payable"]
        # an inflow counts as available only once posted
        assert (payable["posted_amount"], payable["pending_amount"], payable["available_amount"]) == (0, 3000, 0)

        result = writer.transition("pay-1", "posted")
        assert result.action == "transition" and result.status == "posted"
    wallet, payable = balances(store)["wallet"], balances(store)["payable"]
    assert (wallet["posted_amount"], wallet["pending_amount"], wallet["available_amount"]) == (7000, 7000, 7000)
    assert (payable["posted_amount"], payable["pending_amount"], payable["available_amount"]) == (3000, 3000, 3000)
    assert (wallet["posted_debits"], wallet["posted_credits"]) == (3000, 10000)
    with store.connect() as conn:
        tx_row = conn.dicts("SELECT status, posted_at, version FROM ledger_transactions WHERE external_id = 'pay-1'")[0]
        entry_status = {s for (s,) in conn.all(
            "SELECT e.status FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.ledger_transaction_id "
            "WHERE t.external_id = 'pay-1'")}
    assert tx_row["status"] == "posted" and tx_row["posted_at"] is not None and tx_row["version"] == 2
    assert entry_status == {"posted"}
    assert invariant_violations(store) == []


def test_pending_then_archived_releases_the_hold(store, chart):
    with open_writer(store) as writer:
        fund_wallet(writer)
        writer.post(pending_payment())
        result = writer.transition("pay-1", "archived")
        assert result.action == "transition" and result.status == "archived"
        wallet = balances(store)["wallet"]
        assert (wallet["posted_amount"], wallet["pending_amount"], wallet["available_amount"]) == (10000, 10000, 10000)
        assert amounts(store, "pending").get("payable") is None
        # archived is final as well
        with pytest.raises(RuleViolation) as refused:
            writer.transition("pay-1", "posted")
        assert refused.value.reason_codes == ["invalid_status_transition"]
        with pytest.raises(RuleViolation):
            writer.transition("pay-1", "pending")
    assert invariant_violations(store) == []


def test_pending_hold_counts_against_the_limit(store, chart):
    with open_writer(store) as writer:
        fund_wallet(writer, 5000)
        writer.post(pending_payment())  # 30.00 held of 50.00
        with pytest.raises(RuleViolation) as refused:
            writer.post(TransactionInput([EntryInput("wallet", "debit", 2001), EntryInput("payable", "credit", 2001)],
                                         external_id="pay-2"))
        assert refused.value.reason_codes == ["balance_limit_exceeded"]
        writer.post(TransactionInput([EntryInput("wallet", "debit", 2000), EntryInput("payable", "credit", 2000)],
                                     external_id="pay-3"))
        writer.transition("pay-1", "posted")  # posting a held outflow does not move available again
    assert balances(store)["wallet"]["available_amount"] == 0


def test_transition_in_a_batch_and_repeats(store, chart):
    pending = tx("p", ("cash", "debit", "4"), ("revenue", "credit", "4"), status="pending", effective_at=T1)
    assert post(store, pending).created == 1
    assert post(store, pending).duplicates == 1  # pending again: no-op
    posted = [dict(r, status="posted") for r in pending]
    result = post(store, posted)
    assert result.transitioned == 1 and not result.violations
    assert post(store, posted).duplicates == 1  # posted again: no-op
    assert amounts(store) == {"cash": 400, "revenue": 400}
    assert invariant_violations(store) == []


def test_one_batch_both_creates_and_transitions(store, chart):
    """The balance update reads new entries and transitions only when the batch has them; a batch with both
    moves each account by both."""
    held = tx("held", ("cash", "debit", "4"), ("revenue", "credit", "4"), status="pending", effective_at=T1)
    post(store, held)
    assert amounts(store, "pending") == {"cash": 400, "revenue": 400} and amounts(store) == {}
    fresh = tx("fresh", ("cash", "debit", "1.50"), ("revenue", "credit", "1.50"), effective_at=T1)
    result = post(store, [*(dict(r, status="posted") for r in held), *fresh])
    assert (result.created, result.transitioned) == (1, 1)
    assert amounts(store) == {"cash": 550, "revenue": 550}
    assert amounts(store, "pending") == {"cash": 550, "revenue": 550}
    assert invariant_violations(store) == []


def test_transition_of_unknown_transaction(store, chart):
    with open_writer(store) as writer, pytest.raises(NotFoundError):
        writer.transition("nope", "posted")


# -- reversals -------------------------------------------------------------------------------------


def test_reversal_flips_every_entry_and_links_the_original(store, chart):
    with open_writer(store) as writer:
        original = writer.post(TransactionInput(
            [EntryInput("cash", "debit", 1000), EntryInput("revenue", "credit", 900),
             EntryInput("payable", "credit", 100)], external_id="sale", effective_at=T1))
        reversal = writer.reverse(original.id, effective_at=datetime(2024, 3, 5, tzinfo=UTC))
        assert reversal.action == "create" and reversal.external_id == "sale:reversal"
        again = writer.reverse("sale")  # by external_id, without a time: the same reversal, a no-op
        assert again.action == "noop" and again.id == reversal.id
    assert amounts(store) == {}
    posted = balances(store)["cash"]
    assert (posted["posted_debits"], posted["posted_credits"]) == (1000, 1000)
    with store.connect() as conn:
        row = conn.dicts("SELECT reverses_id, status, description FROM ledger_transactions WHERE id = :id",
                         {"id": reversal.id})[0]
        original_row = conn.one("SELECT status, version FROM ledger_transactions WHERE id = :id", {"id": original.id})
    assert row["reverses_id"] == original.id and row["status"] == "posted" and "sale" in row["description"]
    assert original_row == ("posted", 1)  # the original is untouched
    # the history as of before the reversal still shows the sale
    assert amounts(store, as_of=datetime(2024, 3, 4, tzinfo=UTC)) == {"cash": 1000, "revenue": 900, "payable": 100}
    assert invariant_violations(store) == []


def test_reversal_of_a_pending_transaction_is_refused(store, chart):
    """A pending transaction is cancelled by archiving it; only posted ones are reversed."""
    with open_writer(store) as writer:
        writer.post(TransactionInput([EntryInput("cash", "debit", 1), EntryInput("revenue", "credit", 1)],
                                     external_id="hold", status="pending"))
        with pytest.raises(RuleViolation) as refused:
            writer.reverse("hold")
    assert refused.value.reason_codes == ["invalid_status_transition"]
    assert counts(store)["ledger_transactions"] == 1


def test_reversal_respects_balance_limits(store, chart):
    """Reversing a wallet top-up that has been spent would overdraw the wallet: refused."""
    with open_writer(store) as writer:
        fund_wallet(writer, 1000)
        writer.post(TransactionInput([EntryInput("wallet", "debit", 800), EntryInput("payable", "credit", 800)],
                                     external_id="spend"))
        with pytest.raises(RuleViolation) as refused:
            writer.reverse("fund")
    assert refused.value.reason_codes == ["balance_limit_exceeded"]


# -- balances as of a time -------------------------------------------------------------------------


def test_balances_as_of_an_effective_time(store, chart):
    rows = [*tx("d1", ("cash", "debit", "1"), ("revenue", "credit", "1"), effective_at=T1),
            *tx("d2", ("cash", "debit", "2"), ("revenue", "credit", "2"), effective_at=T2),
            *tx("d3", ("cash", "debit", "4"), ("revenue", "credit", "4"), effective_at=T3, status="pending"),
            *tx("d4", ("cash", "credit", "0.5"), ("revenue", "debit", "0.5"), effective_at=T3)]
    assert post(store, rows).created == 4
    before_all = datetime(2024, 1, 1, tzinfo=UTC)
    assert amounts(store, as_of=before_all) == {}
    assert amounts(store, as_of=datetime(2024, 3, 1, 10, tzinfo=UTC)) == {"cash": 100, "revenue": 100}  # inclusive
    assert amounts(store, as_of=datetime(2024, 3, 2, 12, tzinfo=UTC)) == {"cash": 300, "revenue": 300}
    later = datetime(2025, 1, 1, tzinfo=UTC)
    assert amounts(store, as_of=later) == {"cash": 250, "revenue": 250}
    assert amounts(store, "pending", as_of=later) == {"cash": 650, "revenue": 650}
    # as of a time after every entry, the recomputed balances equal the stored current ones
    assert amounts(store, as_of=later) == amounts(store)
    assert amounts(store, "pending", as_of=later) == amounts(store, "pending")
    assert amounts(store, "available", as_of=later) == amounts(store, "available")
    one = balances(store, account="cash", as_of=datetime(2024, 3, 2, 12, tzinfo=UTC))
    assert list(one) == ["cash"] and one["cash"]["posted_debits"] == 300


def test_late_arriving_backdated_entry_changes_history_as_of(store, chart):
    post(store, tx("late", ("cash", "debit", "9"), ("revenue", "credit", "9"), effective_at="2023-12-31"))
    assert amounts(store, as_of=datetime(2024, 1, 1, tzinfo=UTC)) == {"cash": 900, "revenue": 900}
    assert amounts(store, as_of=datetime(2023, 12, 30, tzinfo=UTC)) == {}


def test_effective_at_accepts_offsets_and_dates(store, chart):
    rows = [*tx("o1", ("cash", "debit", "1"), ("revenue", "credit", "1"), effective_at="2024-03-01T12:00:00+02:00"),
            *tx("o2", ("cash", "debit", "1"), ("revenue", "credit", "1"), effective_at="2024-03-01"),
            *tx("o3", ("cash", "debit", "1"), ("revenue", "credit", "1"), effective_at="2024-03-01 10:30:00.25")]
    assert post(store, rows).created == 3
    with store.connect() as conn:
        times = dict(conn.all("SELECT external_id, effective_at FROM ledger_transactions"))
    assert times["o1"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert times["o2"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert times["o3"] == datetime(2024, 3, 1, 10, 30, 0, 250000, tzinfo=UTC)


def test_every_write_is_audited(store, chart):
    post(store, tx("a1", ("cash", "debit", "1"), ("revenue", "credit", "1")))
    post_transaction(store, TransactionInput([EntryInput("cash", "debit", 1), EntryInput("revenue", "credit", 1)],
                                             external_id="a2"), actor="tester")
    with store.connect() as conn:
        actions = conn.all("SELECT actor, action, object_type FROM audit_log ORDER BY occurred_at")
        hashes = conn.scalar("SELECT count(*) FROM audit_log WHERE action = 'post_transaction' "
                             "AND request_hash IS NOT NULL")
    assert ("batch", "post_batch", "batch") in actions and ("tester", "post_transaction", "batch") in actions
    assert ("system", "create", "ledger_account") in actions and ("system", "archive", "ledger_account") in actions
    assert hashes == 1


def test_written_ids_are_time_ordered_uuids_unique_within_and_across_batches(store, chart):
    import time
    import uuid

    first = post(store, [*tx("a", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00")),
                         *tx("b", ("cash", "debit", "2.00"), ("revenue", "credit", "1.50"), ("payable", "credit", "0.50"))])
    time.sleep(0.002)  # the ids' order is by millisecond
    second = post(store, tx("c", ("cash", "debit", "3.00"), ("revenue", "credit", "3.00")))
    assert (first.created, second.created) == (2, 1)
    with store.connect() as conn:
        tx_ids = [r[0] for r in conn.all("SELECT id FROM ledger_transactions ORDER BY external_id")]
        entry_ids = [r[0] for r in conn.all("SELECT id FROM ledger_entries")]
    ids = tx_ids + entry_ids
    assert len(set(ids)) == len(ids) == 3 + 7
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in ids)
    assert tx_ids[2] > max(tx_ids[:2])  # a later batch sorts after an earlier one (millisecond time first)


@pytest.mark.parametrize("lines, problem", [([1, 2, 2, 3], "unique"), ([0, 1, 2**32, 3], "0..4294967295"),
                                            ([-1, 1, 2, 3], "0..4294967295")])
def test_a_callers_own_lines_must_number_rows_uniquely(store, chart, lines, problem):
    """Lines number the new ids (``ids.py``): a caller's table with repeated or out-of-range lines is a
    programming error, refused before anything is written."""
    import pyarrow as pa

    from ledger_pipeline.ledger.posting import post_batch

    table = batch([*tx("a", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00")),
                   *tx("b", ("cash", "debit", "2.00"), ("revenue", "credit", "2.00"))])
    table = table.set_column(table.schema.get_field_index("line"), "line", pa.array(lines, pa.int64()))
    with pytest.raises(ValueError, match=problem):
        post_batch(store, table)
    assert counts(store)["ledger_transactions"] == 0
    table = table.set_column(table.schema.get_field_index("line"), "line", pa.array([2**32 - 2, 2**32 - 1, 0, 7], pa.int64()))
    # any unique lines in range number the ids (in line order, each transaction's rows must be one run)
    assert post_batch(store, table).created == 2
