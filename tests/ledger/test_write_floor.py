"""The benchmark's write floor (``bench.write_floor``) writes the rows a real bulk post of the same file
leaves, and only those: otherwise the floor it prints beside the post would not bound the post."""

from __future__ import annotations

import contextlib

import pytest

from bench.generate import bench_accounts, generate_batch, write_parquet
from bench.write_floor import write_floor
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.posting import post_batch_file
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.conftest import pg_schema

_SHAPE = """
SELECT (SELECT count(*) FROM ledger_transactions), (SELECT count(DISTINCT id) FROM ledger_transactions),
       (SELECT count(*) FROM ledger_entries), (SELECT count(DISTINCT id) FROM ledger_entries),
       (SELECT min(length(CAST(id AS TEXT))) FROM ledger_entries),
       (SELECT max(length(CAST(id AS TEXT))) FROM ledger_entries)
"""
_TOTALS = """
SELECT a.name, e.direction, e.currency, count(*), sum(e.amount), min(e.effective_at), max(e.effective_at)
FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.ledger_account_id
GROUP BY a.name, e.direction, e.currency ORDER BY 1, 2, 3
"""
_PER_TRANSACTION = """
SELECT t.external_id, t.status, t.effective_at, count(*), sum(e.amount)
FROM ledger_transactions t JOIN ledger_entries e ON e.ledger_transaction_id = t.id
GROUP BY t.external_id, t.status, t.effective_at ORDER BY 1
"""


def _with_accounts(store: Store) -> Store:
    with store.transaction() as conn:
        for account in bench_accounts():
            ensure_account(conn, "main", AccountSpec(account.name, account.normal_balance, account.currency))
    return store


@pytest.fixture
def twin(store, tmp_path):
    """A second empty store on the same engine as ``store``, for the floor to write into."""
    with pg_schema() if store.is_postgres else contextlib.nullcontext(f"duckdb:///{tmp_path / 'floor.duckdb'}") as url:
        twin = Store(url)
        initialize_store(twin)
        yield twin


# the floor writes entries and no balances (that is what makes it a floor), so its store drifts by design
@pytest.mark.breaks_invariants
def test_the_floor_writes_the_rows_a_post_leaves(store, twin, tmp_path):
    path = tmp_path / "batch.parquet"
    write_parquet(generate_batch(300, seed=7), path)
    result = post_batch_file(_with_accounts(store), path)
    assert result.created == 300 and not result.violations

    seconds = write_floor(_with_accounts(twin), path, tmp_path)
    assert seconds > 0
    assert list(tmp_path.glob("floor_*.csv")) == []  # the rendered COPY input is removed

    readings = []
    for each in (store, twin):
        with each.connect() as conn:
            readings.append((conn.one(_SHAPE), conn.all(_TOTALS), conn.all(_PER_TRANSACTION)))
    (shape, totals, per_tx), (floor_shape, floor_totals, floor_per_tx) = readings
    assert shape == floor_shape and shape[0] == shape[1] == 300 and shape[2] == shape[3]
    assert shape[4] == shape[5] == 36  # ids of the same length: the same bytes to write and index
    assert totals == floor_totals
    assert per_tx == floor_per_tx
