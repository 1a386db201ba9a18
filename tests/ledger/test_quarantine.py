"""Quarantine on both engines: refused transactions are kept with their reason and raw rows, listed, and
replayed after the cause is fixed."""

from __future__ import annotations

import json

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.quarantine import (
    discard_quarantine,
    list_quarantine,
    quarantine_counts,
    replay_quarantine,
)
from tests.ledger.conftest import amounts, counts, invariant_violations, post, tx


def open_items(store, **kwargs):
    with store.connect() as conn:
        return list_quarantine(conn, **kwargs)


def add_account(store, name, normal="credit", currency="USD", ledger="main"):
    with store.transaction() as conn:
        ensure_account(conn, ledger, AccountSpec(name=name, normal_balance=normal, currency=currency))


BATCH = [
    *tx("ok", ("cash", "debit", "1"), ("revenue", "credit", "1")),
    *tx("needs-fees", ("cash", "debit", "12.34"), ("fees", "credit", "12.34"), description="fee 1",
        effective_at="2024-05-01T00:00:00Z", metadata='{"invoice": "F-1"}'),
    *tx("bad-amount", ("cash", "debit", "1.001"), ("revenue", "credit", "1.001")),
]


def test_quarantine_keeps_reason_and_raw_payload(store, chart):
    post(store, BATCH, source="erp")
    items = {i["external_id"]: i for i in open_items(store)}
    assert set(items) == {"needs-fees", "bad-amount"}
    fees = items["needs-fees"]
    assert fees["reason_code"] == "unknown_account" and "fees" in fees["reason"]
    assert fees["record_ref"] == "test:3" and fees["source"] == "erp" and fees["ledger_name"] == "main"
    assert fees["status"] == "open" and fees["attempts"] == 1
    raw = json.loads(fees["raw_payload"])
    assert [(r["line"], r["account"], r["direction"], r["amount"]) for r in raw] == [
        (3, "cash", "debit", "12.34"), (4, "fees", "credit", "12.34")]
    assert raw[0]["metadata"] == '{"invoice": "F-1"}' and raw[0]["description"] == "fee 1"
    assert raw[0]["effective_at"] == "2024-05-01T00:00:00Z"
    assert items["bad-amount"]["reason_code"] == "excess_precision"
    with store.connect() as conn:
        assert quarantine_counts(conn) == {"excess_precision": 1, "unknown_account": 1}
    assert [i["external_id"] for i in open_items(store, reason_code="excess_precision")] == ["bad-amount"]


def test_replay_after_fixing_the_cause_posts_and_marks_replayed(store, chart):
    post(store, BATCH, source="erp")
    still = replay_quarantine(store)  # nothing fixed yet
    assert still.created == 0 and still.replayed == 0 and still.quarantined == 2
    assert {i["attempts"] for i in open_items(store)} == {2}
    assert counts(store)["quarantine"] == 2  # a failed replay adds no item

    add_account(store, "fees")
    result = replay_quarantine(store, reason_code="unknown_account")
    assert (result.created, result.replayed, result.quarantined) == (1, 1, 0)
    assert amounts(store) == {"cash": 1334, "revenue": 100, "fees": 1234}
    replayed = [i for i in open_items(store, status="replayed")]
    assert [i["external_id"] for i in replayed] == ["needs-fees"]
    assert replayed[0]["resolution"].startswith("replayed in batch")
    assert [i["external_id"] for i in open_items(store)] == ["bad-amount"]
    with store.connect() as conn:
        posted = conn.dicts("SELECT description, metadata, source, CAST(effective_at AS TEXT) AS eff "
                            "FROM ledger_transactions WHERE external_id = 'needs-fees'")[0]
    # posted exactly as the original batch would have
    assert posted["description"] == "fee 1"
    assert posted["metadata"] in ('{"invoice": "F-1"}', '{"invoice":"F-1"}')  # the engine's canonical JSON
    assert posted["source"] == "erp" and posted["eff"].startswith("2024-05-01 00:00:00")

    again = replay_quarantine(store, reason_code="unknown_account")  # nothing open with that reason
    assert again.transactions_in == 0
    assert invariant_violations(store) == []


def test_replay_of_something_posted_meanwhile_is_marked_replayed(store, chart):
    post(store, BATCH)
    add_account(store, "fees")
    post(store, BATCH[2:4])  # the same transaction sent again by its source, now valid
    result = replay_quarantine(store, reason_code="unknown_account")
    assert (result.created, result.duplicates, result.replayed) == (0, 1, 1)
    assert amounts(store)["fees"] == 1234


def test_replay_by_id_only_touches_that_item(store, chart):
    post(store, BATCH)
    add_account(store, "fees")
    target = next(i for i in open_items(store) if i["external_id"] == "needs-fees")
    result = replay_quarantine(store, ids=[target["id"]])
    assert result.transactions_in == 1 and result.replayed == 1
    assert {i["external_id"] for i in open_items(store)} == {"bad-amount"}


def test_replay_posts_into_the_batch_default_ledger(store, chart):
    """Rows that named no ledger were meant for the batch's default ledger; a replay keeps it."""
    with store.transaction() as conn:
        ensure_ledger(conn, "books")
        ensure_account(conn, "books", AccountSpec(name="cash", normal_balance="debit", currency="USD"))
    post(store, tx("b1", ("cash", "debit", "3"), ("sales", "credit", "3")), default_ledger="books")
    assert open_items(store)[0]["ledger_name"] == "books"
    add_account(store, "sales", ledger="books")
    result = replay_quarantine(store)
    assert result.created == 1 and result.replayed == 1
    assert amounts(store, ledger="books") == {"cash": 300, "sales": 300}
    assert amounts(store, ledger="main") == {}


def test_items_sharing_an_external_id_are_not_merged_on_replay(store, chart):
    post(store, tx("same", ("cash", "debit", "5"), ("fees", "credit", "5")))
    post(store, tx("same", ("cash", "debit", "7"), ("fees", "credit", "7")))  # a corrected resend, still refused
    assert counts(store)["quarantine"] == 2
    add_account(store, "fees")
    result = replay_quarantine(store)
    # the older posts; the newer differs from what is now stored under that id: a conflict, kept open
    assert result.created == 1 and result.replayed == 1
    assert result.reason_counts == {"external_id_conflict": 1}
    assert amounts(store) == {"cash": 500, "fees": 500}
    assert [i["reason_code"] for i in open_items(store)] == ["external_id_conflict"]
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_entries") == 2


def test_discarded_items_are_kept_but_not_replayed(store, chart):
    post(store, BATCH)
    item = next(i for i in open_items(store) if i["external_id"] == "bad-amount")
    with store.transaction() as conn:
        discard_quarantine(conn, item["id"], "sent by mistake")
    assert {i["external_id"] for i in open_items(store)} == {"needs-fees"}
    discarded = open_items(store, status="discarded")
    assert discarded[0]["resolution"] == "sent by mistake"
    assert replay_quarantine(store).transactions_in == 1
    assert counts(store)["quarantine"] == 2


def test_replay_with_nothing_open(store, chart):
    result = replay_quarantine(store)
    assert (result.transactions_in, result.created, result.replayed) == (0, 0, 0)
