"""The versioned payload hash (``staging.payload_hash_sql``): new writes store version 2; transactions
stored with version 1 keep it and still recognise the same content resubmitted; on both engines."""

from __future__ import annotations

import functools
import hashlib

import pytest

from ledger_pipeline.ledger import staging
from ledger_pipeline.ledger.errors import RuleViolation
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer
from tests.ledger.conftest import amounts, counts, post, reasons, tx

WHEN = "2024-01-02T03:04:05Z"


def _batch(cash: str = "1.00"):
    return [
        *tx("plain", ("cash", "debit", cash), ("revenue", "credit", cash), effective_at=WHEN),
        *tx("rich", ("cash", "debit", "2.00"), ("revenue", "credit", "1.50"), ("revenue", "credit", "0.50"),
            effective_at=WHEN, description="rent | May", metadata='{"k": 1}', status="pending"),
    ]


def _hashes(store) -> dict[str, str]:
    with store.connect() as conn:
        return dict(conn.all("SELECT external_id, payload_hash FROM ledger_transactions"))


@pytest.fixture
def version_1_writes(monkeypatch):
    """Writes hash as a release before version 2 did (rows stored without a version prefix)."""
    monkeypatch.setattr(staging, "prepare_txs_sql", functools.partial(staging.prepare_txs_sql, hash_version=1))
    return monkeypatch


def test_the_version_2_hash_is_one_md5_of_the_canonical_text_on_both_engines(store):
    """Both engines hash the same text: entries sorted bytewise whatever the collation, lengths in code
    points (a combining accent is one)."""
    expression = staging.payload_hash_sql(
        ledger="'main'", effective_at="CAST('2024-01-02 03:04:05.5+00' AS TIMESTAMPTZ)", description="'é | e\u0301'",
        metadata="'{}'", entries="e.entries")
    entries = ("b:debit:100:USD", "a_1:credit:60:USD", "a-1:credit:40:USD", "B:credit:0:USD")
    values = ", ".join(f"('{e}')" for e in entries)
    with store.connect() as conn:
        got = conn.scalar(f"SELECT {expression} FROM (SELECT {staging.entries_aggregate(conn)} AS entries "
                          f"FROM (VALUES {values}) v(entry)) e")
    text = ("4:main|2024-01-02 03:04:05.5+00|6:é | e\u0301|{}|"  # lengths in code points on both engines
            "B:credit:0:USD,a-1:credit:40:USD,a_1:credit:60:USD,b:debit:100:USD")
    assert got == "v2:" + hashlib.md5(text.encode()).hexdigest()


def test_a_batch_posted_before_version_2_is_still_recognised(store, chart, version_1_writes):
    """Resubmitted: a no-op; other content: a conflict; pending -> posted: a transition. Stored hashes keep
    their version."""
    assert post(store, _batch()).created == 2
    stored = _hashes(store)
    assert all(len(h) == 32 and not h.startswith("v") for h in stored.values())  # version 1: bare md5 hex
    version_1_writes.undo()

    again = post(store, _batch())
    assert (again.created, again.duplicates, again.quarantined) == (0, 2, 0)
    changed = post(store, _batch(cash="1.01"))
    assert reasons(changed) == {"plain": {"external_id_conflict"}}
    assert changed.duplicates == 1
    posted = post(store, [{**row, "status": "posted"} for row in _batch() if row["external_id"] == "rich"])
    assert (posted.transitioned, posted.quarantined) == (1, 0)
    with open_writer(store) as writer:
        single = writer.post(TransactionInput([EntryInput("cash", "debit", 100), EntryInput("revenue", "credit", 100)],
                                              external_id="plain", effective_at=WHEN))
        with pytest.raises(RuleViolation, match="external_id_conflict"):
            writer.post(TransactionInput([EntryInput("cash", "debit", 101), EntryInput("revenue", "credit", 101)],
                                         external_id="plain", effective_at=WHEN))
    assert single.action == "noop"
    assert _hashes(store) == stored
    assert amounts(store) == {"cash": 300, "revenue": 300}
    assert counts(store) == {"ledger_transactions": 2, "ledger_entries": 5, "quarantine": 1}


def test_single_writes_and_bulk_posts_store_and_recognise_the_same_version_2_hash(store, chart):
    legs = [EntryInput("revenue", "credit", 100), EntryInput("cash", "debit", 100)]
    with open_writer(store) as writer:
        writer.post(TransactionInput(legs, external_id="single", effective_at=WHEN, description="d",
                                     metadata={"k": 1}))
    assert post(store, tx("bulk", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), effective_at=WHEN,
                          description="d", metadata='{"k":1}')).created == 1
    hashes = _hashes(store)
    assert hashes["single"] == hashes["bulk"] and hashes["bulk"].startswith("v2:")
    crossed = post(store, tx("single", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), effective_at=WHEN,
                             description="d", metadata='{"k": 1}'))
    assert (crossed.duplicates, crossed.quarantined) == (1, 0)
    with open_writer(store) as writer:
        assert writer.post(TransactionInput(legs[::-1], external_id="bulk", effective_at=WHEN, description="d",
                                            metadata={"k": 1})).action == "noop"
    assert counts(store) == {"ledger_transactions": 2, "ledger_entries": 4, "quarantine": 0}
