"""The core's one write entry point for a batch: ``post(target, PostRequest(...))``.

A batch is validated and applied in one database transaction (``pipeline.py``); refused transactions go
to quarantine with their reason codes and raw rows. Bulk posts, quarantine replay, ingest, lifecycle
transitions and the default ledgering of payment orders all come through here. How a batch is staged is
the store engine's business (``StoreEngine.staged_write``): a DuckDB file stages it before the writing
transaction, other stores inside it. A caller that writes rows of its own with the batch (ingest: the raw
records and the connector cursor) gives a ``BatchWork``, and its rows land in the batch's writing
transaction, all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from ledger_pipeline.ledger import staging
from ledger_pipeline.ledger.batch_input import ParquetSource, parquet_source, read_entries_file
from ledger_pipeline.ledger.inputs import BatchResult
from ledger_pipeline.ledger.pipeline import (
    PreparedBatch,
    overflow_refused,
    run_pipeline,
    stage_pipeline,
    utc_now,
)
from ledger_pipeline.ledger.retries import MAX_BATCH_ATTEMPTS, with_retries
from ledger_pipeline.ledger.stage_input import numbered, stage, unstage, unstaging
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.progress import ProgressHook, no_progress

Batch = pa.Table | ParquetSource


class BatchWork(Protocol):
    """A batch posted together with the caller's own writes, in one writing transaction."""

    def read(self, conn: Connection, *, before_write: bool) -> pa.Table | None:
        """Read what the batch is made from, create what it needs (ledgers, accounts) and return it (None, or
        no rows: nothing to post). ``before_write``: this runs in a transaction of its own before the writing
        transaction (the store's write lock is held across both); otherwise inside the writing transaction.
        It runs again, inside the writing transaction, when another connection wrote in between."""

    def write(self, conn: Connection, seq: int, post: Callable[[], BatchResult | None]) -> None:
        """Inside the writing transaction, whose change position is ``seq``: the caller's own writes, and
        ``post()`` where the batch goes (it returns the batch's result, None when there was nothing to post)."""


@dataclass(frozen=True)
class PostRequest:
    """A batch to post, and for whom.

    ``batch``: entry rows (``staging.RAW_COLUMNS``; a table without a ``line`` column is normalised by
    ``batch_input.normalise_entries`` first) or a ``batch_input.ParquetSource``. ``work``: instead of a
    batch, a ``BatchWork`` that reads it and writes rows of its own with it (only on a ``Store``).
    ``default_ledger``: for rows that name none. ``source``, ``actor`` and ``request_hash`` are recorded
    with what the batch writes (transactions, quarantine, audit log). ``progress`` hears ``validated``
    (the batch staged and checked before the writing transaction) or ``staged`` (checked inside it), then
    ``written`` (its transactions applied).
    """

    batch: Batch | None = None
    default_ledger: str = "main"
    source: str | None = None
    actor: str = "batch"
    request_hash: str | None = None
    work: BatchWork | None = None
    progress: ProgressHook = no_progress


def post(target: Store | Connection, request: PostRequest) -> BatchResult | None:
    """Validate and post ``request``'s batch; the result is None only when a ``work`` had nothing to post.

    On a ``Store``: in a writing transaction of its own. If a concurrent writer commits one of the batch's
    external_ids first (PostgreSQL's unique index refuses the insert), the whole write is rolled back and run
    again: posting is idempotent, so the retry sees that transaction as a no-op or a conflict.

    On a ``Connection``: on the caller's open database transaction (no retry; no ``work``).
    """
    if (request.batch is None) == (request.work is None):
        raise ValueError("a PostRequest carries either a batch or a work")
    if isinstance(request.batch, pa.Table):
        request = replace(request, batch=numbered(request.batch))
    if isinstance(target, Connection):
        if request.work is not None:
            raise ValueError("a BatchWork posts on a Store, in a writing transaction of its own")
        with target.bulk_settings(rows=_rows(request.batch)):
            return _written(request, _stage_and_run(target, request.batch, request, seq=None))
    return _written(request, with_retries(lambda: _post_once(target, request), MAX_BATCH_ATTEMPTS, 0.05,
                                          target.engine.is_retryable))


def post_batch(
    store: Store, table: Batch, *, default_ledger: str = "main", source: str | None = None,
    actor: str = "batch", request_hash: str | None = None, progress: ProgressHook = no_progress,
) -> BatchResult:
    """``post(store, PostRequest(table, ...))``: a batch of entries in a writing transaction of its own."""
    return post(store, PostRequest(table, default_ledger=default_ledger, source=source, actor=actor,
                                   request_hash=request_hash, progress=progress))


def post_batch_file(
    store: Store, path: str | Path, *, default_ledger: str = "main", source: str | None = None,
    actor: str = "batch", request_hash: str | None = None, progress: ProgressHook = no_progress,
) -> BatchResult:
    """Read and post a CSV or Parquet file of entries (``post_batch``). A Parquet file is read by the engine
    itself where it can (``batch_input.parquet_source``; ``StoreEngine.stage_parquet``); anything else is
    read into Arrow first (``batch_input.read_entries_file``). Both give the same rows, lines and errors.
    ``progress`` hears ``read`` (the file's rows), then ``validated`` and ``written``."""
    path = Path(path)
    batch = parquet_source(path) if path.suffix.lower() in (".parquet", ".pq") else None
    if batch is None:
        batch = read_entries_file(path)
    progress("read", {"rows": _rows(batch)})
    return post_batch(store, batch, default_ledger=default_ledger, source=source, actor=actor,
                      request_hash=request_hash, progress=progress)


def _rows(batch: Batch) -> int:
    """The number of entry rows in ``batch`` (a Parquet file's from its footer, without reading it)."""
    if isinstance(batch, ParquetSource):
        import pyarrow.parquet as pq

        return pq.ParquetFile(batch.path).metadata.num_rows
    return batch.num_rows


def _written(request: PostRequest, result: BatchResult | None) -> BatchResult | None:
    if result is not None:
        request.progress("written", {"created": result.created, "quarantined": result.quarantined})
    return result


@dataclass(frozen=True)
class _Staged:
    """What was staged before the writing transaction: the batch (None: nothing to post) and its staging."""

    batch: Batch | None
    prepared: PreparedBatch | None


def _post_once(store: Store, request: PostRequest) -> BatchResult | None:
    staged_before: list[_Staged] = []

    def stage_first(conn: Connection) -> _Staged:
        staged = _stage_first(conn, request)
        staged_before.append(staged)
        return staged

    def write(conn: Connection, seq: int, staged: _Staged | None) -> BatchResult | None:
        if staged is None and staged_before:  # staged, then another connection wrote: all again, inside
            unstage(conn)
        if staged is None:
            staged = _Staged(_read(conn, request, before_write=False), None)

        def post_now() -> BatchResult | None:
            if staged.prepared is not None:
                with unstaging(conn):
                    return _run(conn, request, seq=seq, prepared=staged.prepared)
            if staged.batch is None:
                return None
            return _stage_and_run(conn, staged.batch, request, seq=seq)

        if request.work is None:
            return post_now()
        results: list[BatchResult | None] = []
        request.work.write(conn, seq, lambda: results.append(post_now()) or results[-1])
        return results[-1] if results else None

    with (store.write_lock(), store.connect() as conn,
          conn.bulk_settings(batch_in_python=not isinstance(request.batch, ParquetSource), rows=_rows(request.batch))):
        return conn.engine.staged_write(conn, stage_first, write)


def _rows(batch: Batch | None) -> int | None:
    """The batch's rows where they are known before it is read."""
    return batch.num_rows if isinstance(batch, pa.Table) else None


def _read(conn: Connection, request: PostRequest, *, before_write: bool) -> Batch | None:
    """The request's batch, or what its work reads (None: nothing to post)."""
    if request.work is None:
        return request.batch
    table = request.work.read(conn, before_write=before_write)
    return numbered(table) if table is not None and table.num_rows else None


def _stage_first(conn: Connection, request: PostRequest) -> _Staged:
    """Stage the batch outside any transaction: each statement commits on its own, so that the next one
    scans committed rows in parallel (DuckDB). The staging tables are the connection's own; a failure leaves
    rows in them that the next staging deletes."""
    if request.work is not None:
        with conn.transaction():
            batch = _read(conn, request, before_write=True)
    else:
        batch = request.batch
    if batch is None:
        return _Staged(None, None)
    now = utc_now()
    staging.reset_staging(conn)
    try:
        # the staging tables are read in no physical order (their readers join, group or sort), so DuckDB
        # may append to them on every core
        with conn.unordered_appends():
            stage(conn, batch, copy=True)
            with overflow_refused(conn):
                counts = stage_pipeline(conn, request.default_ledger, now)
    except BaseException:
        unstage(conn)  # no transaction is open: this cannot fail for an aborted one
        raise
    request.progress("validated", {"rows": _rows(batch)})
    return _Staged(batch, PreparedBatch(batch, now, counts))


def _stage_and_run(conn: Connection, batch: Batch, request: PostRequest, *, seq: int | None) -> BatchResult:
    """Stage ``batch`` and run the pipeline on the caller's writing transaction."""
    staging.reset_staging(conn)
    stage(conn, batch)
    request.progress("staged", {"rows": _rows(batch)})
    with unstaging(conn):
        return _run(conn, request, seq=seq)


def _run(conn: Connection, request: PostRequest, *, seq: int | None,
         prepared: PreparedBatch | None = None) -> BatchResult:
    return run_pipeline(conn, default_ledger=request.default_ledger, source=request.source, actor=request.actor,
                        action="post_batch", request_hash=request.request_hash, seq=seq, prepared=prepared)
