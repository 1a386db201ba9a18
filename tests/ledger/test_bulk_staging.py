"""A bulk post into a DuckDB file stages the batch before its writing transaction (``DuckDBEngine.staged_write``):
the staging commits into the connection's temporary tables so that the writing transaction scans it in
parallel. These tests pin what makes that sound: a write between staging and writing (one that bypassed the
store's write lock) is noticed and the batch is staged again, so it never acts on a stale reading; and a
store's write transactions hold the write lock."""

from __future__ import annotations

import sys
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger_pipeline.ledger import batch_post, posting
from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, post_batch, post_batch_file
from ledger_pipeline.ledger.store import Store
from tests.ledger.conftest import amounts, batch, invariant_violations, tx


@pytest.fixture
def duckdb_store(duckdb_url) -> Store:
    from ledger_pipeline.store_setup import initialize_store

    store = Store(duckdb_url)
    initialize_store(store)
    return store


def _spy_restaging(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = batch_post._stage_and_run

    def spy(conn, table, request, **kwargs):
        calls.append(table.num_rows if isinstance(table, pa.Table) else len(pq.read_table(table.path)))
        return original(conn, table, request, **kwargs)

    monkeypatch.setattr(batch_post, "_stage_and_run", spy)
    return calls


def test_an_undisturbed_batch_is_staged_once_outside_the_write(duckdb_store, monkeypatch):
    from tests.ledger.conftest import create_chart

    create_chart(duckdb_store)
    restaged = _spy_restaging(monkeypatch)
    result = post_batch(duckdb_store, batch([*tx("a", ("cash", "debit", "1"), ("revenue", "credit", "1"))]))
    assert result.created == 1 and restaged == []


@pytest.mark.parametrize("given_as", ["arrow", "parquet file"])
def test_a_write_between_staging_and_writing_is_seen(duckdb_store, monkeypatch, tmp_path, given_as):
    """Another connection posts the batch's own external_id, with other content, after the batch was staged
    (it bypasses the write lock: same thread). The batch must notice, stage again and refuse its version as a
    conflict, instead of creating the transaction a second time (DuckDB has no unique index). A Parquet file
    that DuckDB reads itself is staged again from the file."""
    from tests.ledger.conftest import create_chart

    create_chart(duckdb_store)
    restaged = _spy_restaging(monkeypatch)
    original = batch_post._stage_first
    original_stage = batch_post.stage

    def prepare_then_intervene(conn, request):
        prepared = original(conn, request)
        posting.post_transaction(duckdb_store, TransactionInput(
            [EntryInput("cash", "debit", 700), EntryInput("revenue", "credit", 700)], external_id="a"))
        return prepared

    monkeypatch.setattr(batch_post, "_stage_first", prepare_then_intervene)
    rows = batch([
        *tx("a", ("cash", "debit", "1"), ("revenue", "credit", "1")),
        *tx("b", ("cash", "debit", "2"), ("revenue", "credit", "2")),
    ])
    if given_as == "arrow":
        result = post_batch(duckdb_store, rows)
    else:
        pq.write_table(rows, tmp_path / "batch.parquet")
        staged_from = []
        monkeypatch.setattr(batch_post, "stage", lambda conn, b, **kw: (staged_from.append(type(b).__name__),
                                                                      original_stage(conn, b, **kw))[1])
        result = post_batch_file(duckdb_store, tmp_path / "batch.parquet")
        assert staged_from == ["ParquetSource", "ParquetSource"]
    with duckdb_store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM ledger_transactions WHERE external_id = 'a'") == 1
    assert (result.created, result.quarantined) == (1, 1)
    assert result.reason_counts == {"external_id_conflict": 1}
    assert restaged == [4]  # staged again inside the writing transaction
    assert amounts(duckdb_store) == {"cash": 700 + 200, "revenue": 700 + 200}
    assert invariant_violations(duckdb_store) == []


def _waiting_in_store_transaction(thread: threading.Thread) -> bool:
    """Whether ``thread`` is stopped inside ``Store.transaction`` itself (taking its locks), not in a block
    it runs nor in a function it calls."""
    frame = sys._current_frames().get(thread.ident)
    return frame is not None and frame.f_code is Store.transaction.__wrapped__.__code__


def test_a_store_transaction_holds_the_write_lock(duckdb_store):
    """While one thread is inside ``Store.transaction()``, another thread's transaction waits for it, and
    enters once the first is done."""
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with duckdb_store.transaction():
            order.append("first in")
            inside.set()
            assert release.wait(60)
            order.append("first out")

    def second() -> None:
        assert inside.wait(60)
        with duckdb_store.transaction():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert inside.wait(60)
    # the second thread reaches the lock and stays there (or, without a lock, gets in): poll for either
    deadline = time.monotonic() + 60
    while not (_waiting_in_store_transaction(threads[1]) or "second in" in order):
        assert time.monotonic() < deadline, "the second thread never reached Store.transaction"
        time.sleep(0.001)
    assert order == ["first in"], "the second transaction began while the first held the write lock"
    assert threads[1].is_alive()
    release.set()
    for thread in threads:
        thread.join(60)
    assert not any(t.is_alive() for t in threads)
    assert order == ["first in", "first out", "second in"]
