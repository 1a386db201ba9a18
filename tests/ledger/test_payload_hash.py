"""The versioned payload hash (``staging.payload_hash_sql``): new writes store version 3; transactions
stored with an older one keep it and still recognise the same content resubmitted; on both engines. A property test draws transactions and resubmissions and checks each outcome
(no-op or conflict) against the content compared in Python."""

from __future__ import annotations

import functools
import hashlib
import random
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


def _current(store) -> int:
    return store.engine.payload_hash_version


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def older_writes(request, store, monkeypatch):
    """Writes hash as an older release did: version 1 (rows stored without a version prefix) or 2."""
    monkeypatch.setattr(staging, "prepare_txs_sql", functools.partial(staging.prepare_txs_sql, version=request.param))
    monkeypatch.version = request.param
    return monkeypatch


def test_new_writes_store_version_3(store):
    assert _current(store) == 3


def test_the_version_2_hash_is_one_md5_of_the_canonical_text_on_both_engines(store):
    """Both engines hash the same text: entries sorted bytewise whatever the collation, lengths in code
    points (a combining accent is one)."""
    expression = staging.payload_hash_sql(
        ledger="'main'", effective_at="CAST('2024-01-02 03:04:05.5+00' AS TIMESTAMPTZ)", description="'é | e\u0301'",
        metadata="'{}'", entries="e.entries", version=2)
    entries = ("b:debit:100:USD", "a_1:credit:60:USD", "a-1:credit:40:USD", "B:credit:0:USD")
    values = ", ".join(f"('{e}')" for e in entries)
    with store.connect() as conn:
        got = conn.scalar(f"SELECT {expression} FROM (SELECT {staging.entries_aggregate(conn, 2)} AS entries "
                          f"FROM (VALUES {values}) v(entry)) e")
    text = ("4:main|2024-01-02 03:04:05.5+00|6:é | e\u0301|{}|"  # lengths in code points on both engines
            "B:credit:0:USD,a-1:credit:40:USD,a_1:credit:60:USD,b:debit:100:USD")
    assert got == "v2:" + hashlib.md5(text.encode()).hexdigest()


def test_a_batch_posted_with_an_older_version_is_still_recognised(store, chart, older_writes):
    """Resubmitted: a no-op; other content: a conflict; pending -> posted: a transition. Stored hashes keep
    their version."""
    assert post(store, _batch()).created == 2
    stored = _hashes(store)
    if older_writes.version == 1:
        assert all(len(h) == 32 and not h.startswith("v") for h in stored.values())  # bare md5 hex
    else:
        assert all(h.startswith(f"v{older_writes.version}:") for h in stored.values())
    older_writes.undo()

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


def test_single_writes_and_bulk_posts_store_and_recognise_the_same_hash(store, chart):
    legs = [EntryInput("revenue", "credit", 100), EntryInput("cash", "debit", 100)]
    with open_writer(store) as writer:
        writer.post(TransactionInput(legs, external_id="single", effective_at=WHEN, description="d",
                                     metadata={"k": 1}))
    assert post(store, tx("bulk", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), effective_at=WHEN,
                          description="d", metadata='{"k":1}')).created == 1
    hashes = _hashes(store)
    assert hashes["single"] == hashes["bulk"] and hashes["bulk"].startswith(f"v{_current(store)}:")
    crossed = post(store, tx("single", ("cash", "debit", "1.00"), ("revenue", "credit", "1.00"), effective_at=WHEN,
                             description="d", metadata='{"k": 1}'))
    assert (crossed.duplicates, crossed.quarantined) == (1, 0)
    with open_writer(store) as writer:
        assert writer.post(TransactionInput(legs[::-1], external_id="bulk", effective_at=WHEN, description="d",
                                            metadata={"k": 1})).action == "noop"
    assert counts(store) == {"ledger_transactions": 2, "ledger_entries": 4, "quarantine": 0}


# -- property: the hash decides what comparing the content decides ------------------------------------------

_ACCOUNTS = ("cash", "revenue", "payable")  # USD, cents

_pairs = st.lists(st.tuples(st.sampled_from(_ACCOUNTS), st.sampled_from(_ACCOUNTS), st.integers(1, 300)),
                  min_size=1, max_size=3)


def _content(pairs, description, chart) -> tuple:
    """What the payload hash stands for: the header and the multiset of (account id, direction, cents)."""
    entries = sorted((chart[account], direction, cents)
                     for debit, credit, cents in pairs for account, direction in ((debit, "debit"), (credit, "credit")))
    return description, tuple(entries)


def _rows(external_id, pairs, description, chart, rnd: random.Random) -> list[dict]:
    """The transaction's rows in a drawn order, each account by name or by id, each amount in major units
    (with or without trailing zeros) or in minor units."""
    rows = []
    for debit, credit, cents in pairs:
        for account, direction in ((debit, "debit"), (credit, "credit")):
            row = {"external_id": external_id, "account": rnd.choice([account, chart[account]]),
                   "direction": direction, "effective_at": WHEN, "description": description}
            amount = rnd.choice(["minor", "major", "padded"])
            if amount == "minor":
                row["amount_minor"] = str(cents)
            else:
                row["amount"] = f"{cents // 100}.{cents % 100:02d}" + ("0" if amount == "padded" else "")
            rows.append(row)
    rnd.shuffle(rows)
    return rows


def _mutated(data, pairs, description):
    """The same transaction, or one with other content drawn from the ways a retry may differ; either may
    turn out to be the same content (the oracle decides)."""
    kind = data.draw(st.sampled_from(["same", "amount", "swap_amounts", "account", "drop", "add", "description"]))
    pairs = list(pairs)
    i = data.draw(st.integers(0, len(pairs) - 1))
    if kind == "amount":
        debit, credit, cents = pairs[i]
        pairs[i] = (debit, credit, cents + data.draw(st.integers(1, 5)))
    elif kind == "swap_amounts" and len(pairs) > 1:  # the same amounts on other accounts
        j = (i + 1) % len(pairs)
        pairs[i], pairs[j] = (*pairs[i][:2], pairs[j][2]), (*pairs[j][:2], pairs[i][2])
    elif kind == "account":
        debit, credit, cents = pairs[i]
        pairs[i] = (data.draw(st.sampled_from(_ACCOUNTS)), credit, cents)
    elif kind == "drop" and len(pairs) > 1:
        del pairs[i]
    elif kind == "add":
        pairs.append(data.draw(_pairs)[0])
    elif kind == "description":
        description = data.draw(st.sampled_from(["", "rent", "rent ", "Rent"]))
    return pairs, description


@settings(max_examples=30, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), pairs=_pairs, description=st.sampled_from(["", "rent"]), seed=st.integers(0, 2**32),
       other_release=st.booleans())
def test_a_resubmission_is_a_no_op_exactly_when_its_content_is_the_same(store, chart, data, pairs, description,
                                                                         seed, other_release):
    """Posted, then resubmitted as drawn: a no-op when the content is the same (whatever the order of the
    entries, the account given by id or by name, the amount in major or minor units), else
    ``external_id_conflict``. ``other_release``: the stored hash is one an engine release with another
    ``hash()`` wrote, so it is computed again from the stored transaction; the outcome is the same."""
    rnd = random.Random(seed)
    external_id = f"p-{uuid.uuid4()}"  # examples share the store
    assert post(store, _rows(external_id, pairs, description, chart, rnd)).created == 1
    if other_release:
        with store.transaction() as conn:
            conn.execute("UPDATE ledger_transactions SET payload_hash = :h WHERE external_id = :e",
                         {"h": f"v{_current(store)}:" + hashlib.md5(b"another release").hexdigest(), "e": external_id})
    again_pairs, again_description = _mutated(data, pairs, description)
    again = post(store, _rows(external_id, again_pairs, again_description, chart, rnd))
    if _content(again_pairs, again_description, chart) == _content(pairs, description, chart):
        assert (again.duplicates, again.quarantined) == (1, 0), again.violations
    else:
        assert reasons(again) == {external_id: {"external_id_conflict"}}
