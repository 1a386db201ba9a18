"""The stored-rule checks (``stored_rules.py``, behind the Dagster asset checks) run on both engines: each
finds nothing in a sound store and names the rows of a store that breaks its rule."""

from __future__ import annotations

import pytest

from ledger_pipeline.ledger.stored_rules import (
    STORED_RULES,
    count_stored_rule_violations,
    stored_rule_violations,
)
from tests.ledger.conftest import post, tx


def _posted(store) -> None:
    post(store, [*tx("a", ("cash", "debit", "3"), ("revenue", "credit", "3")),
                 *tx("b", ("cash", "debit", "2"), ("revenue", "credit", "2"), status="pending")])


@pytest.mark.parametrize("rule", [r.design_rule for r in STORED_RULES])
def test_each_stored_rule_finds_nothing_in_a_sound_store(store, chart, rule):
    _posted(store)
    with store.connect() as conn:
        assert stored_rule_violations(conn, rule) == []
        assert count_stored_rule_violations(conn, rule) == 0


@pytest.mark.breaks_invariants
def test_an_external_id_stored_twice_is_reported_with_one_of_its_transaction_ids(store, chart):
    _posted(store)
    with store.transaction() as conn:
        conn.execute("DROP INDEX IF EXISTS ledger_transactions_external_id")  # as a bad restore would
        conn.execute("UPDATE ledger_transactions SET external_id = 'a'")
        ids = {row[0] for row in conn.all("SELECT id FROM ledger_transactions")}
    with store.connect() as conn:
        found = stored_rule_violations(conn, 5)
        assert count_stored_rule_violations(conn, 5) == 1
    assert [(v.reason_code, v.tx_key in ids) for v in found] == [("external_id_conflict", True)]
    assert found[0].tx_key == min(ids)
    assert "external_id a is stored 2 times" in found[0].detail
