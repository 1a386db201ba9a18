"""The two write paths: bulk posting of a batch, and one transaction at a time. Both run the same staged
pipeline (``staging.py``) and the same rules (``rules.py``), in set operations, inside one database
transaction:

1. stage the raw rows; normalise them and resolve accounts (``batch_entries``); aggregate per transaction
   (``batch_txs``); run the rule registry into ``batch_violations``;
2. classify each transaction: ``create``, ``transition`` (pending -> posted | archived), ``noop`` (the same
   payload again) or ``reject``;
3. on PostgreSQL lock the touched accounts' balance rows in id order (no deadlock, no overdraft), then check
   balance limits (rule 7) on the running balance in batch order;
4. insert transactions and entries, apply transitions, move balances, quarantine the refused with their raw
   rows, write the audit log.

Running the same batch again changes nothing: every transaction is then a ``noop``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa

from ledger_pipeline.ledger import staging
from ledger_pipeline.ledger.batch_input import (
    RECORD_REF_PREFIX,
    ParquetSource,
    parquet_source,
    read_entries_file,
)
from ledger_pipeline.ledger.errors import InputError, NotFoundError, RuleViolation
from ledger_pipeline.ledger.group_commit import GroupCommit, Request
from ledger_pipeline.ledger.ids import id_prefix
from ledger_pipeline.ledger.rules import LIMIT_EXACT_PASSES, Violation, limit_violations_sql, violations_sql
from ledger_pipeline.ledger.store import ChangeMark, Connection, Store, in_scan_batches

MAX_REPORTED_VIOLATIONS = 1000
T = TypeVar("T")
MAX_WRITE_ATTEMPTS = 50  # a single write retried after losing a race (see LedgerWriter.post)
MAX_BATCH_ATTEMPTS = 3  # a batch retried after losing a race on an external_id (see post_batch)


@dataclass(frozen=True)
class BatchResult:
    """What a batch did. ``violations`` is capped at ``MAX_REPORTED_VIOLATIONS``; counts are complete.

    ``quarantined`` counts the refused transactions, every one of which is held in quarantine (a payload
    already open there from an identical earlier submission is not stored twice); ``duplicates`` counts
    repeats of what is already stored (no-ops).
    """

    batch_id: str
    transactions_in: int
    entries_in: int
    created: int
    transitioned: int
    duplicates: int
    quarantined: int
    entries_posted: int
    reason_counts: dict[str, int] = field(default_factory=dict)
    violations: tuple[Violation, ...] = ()
    replayed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "transactions_in": self.transactions_in,
            "entries_in": self.entries_in,
            "created": self.created,
            "transitioned": self.transitioned,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "replayed": self.replayed,
            "entries_posted": self.entries_posted,
            "reason_counts": self.reason_counts,
            "violations": [v.as_dict() for v in self.violations],
        }


@dataclass(frozen=True)
class EntryInput:
    """One side of a proposed transaction. ``amount`` is an integer of minor units (as in Modern Treasury's
    API); ``currency`` defaults to the account's."""

    account: str
    direction: str
    amount: int
    currency: str | None = None


@dataclass(frozen=True)
class TransactionInput:
    entries: Sequence[EntryInput]
    external_id: str | None = None
    ledger: str = "main"
    status: str = "posted"
    effective_at: datetime | str | None = None
    description: str | None = None
    metadata: Mapping[str, Any] | str | None = None
    source: str | None = None
    ledgerable_type: str | None = None
    ledgerable_id: str | None = None
    reverses_id: str | None = None

    def raw_rows(self) -> list[dict[str, Any]]:
        effective = self.effective_at.isoformat() if isinstance(self.effective_at, datetime) else self.effective_at
        if isinstance(self.metadata, str) or self.metadata is None:
            metadata = self.metadata  # stored text, kept byte for byte so its payload hash is unchanged
        else:
            metadata = json.dumps(dict(self.metadata), sort_keys=True)
        external_id = self.external_id or f"api:{uuid.uuid4()}"
        rows = []
        for i, entry in enumerate(self.entries, start=1):
            amount_text = str(entry.amount)  # anything but an integer's digits is refused by rule 3
            rows.append({
                "line": i, "record_ref": f"{external_id} entry {i}", "quarantine_id": None,
                "external_id": external_id, "ledger": self.ledger, "account": entry.account,
                "direction": entry.direction, "amount": None, "amount_minor": amount_text,
                "currency": entry.currency, "effective_at": effective, "status": self.status,
                "description": self.description, "metadata": metadata, "source": self.source,
                "ledgerable_type": self.ledgerable_type, "ledgerable_id": self.ledgerable_id,
                "reverses_id": self.reverses_id,
            })
        return rows


@dataclass(frozen=True)
class TransactionResult:
    id: str
    external_id: str
    status: str
    action: str  # create | transition | noop


def _now() -> datetime:
    return datetime.now(UTC)


_STAGE_ROW_COLUMNS = ("line", "record_ref", "quarantine_id", *staging.RAW_COLUMNS)  # effective_at_ts stays NULL


@functools.lru_cache(maxsize=2)
def _stage_rows_sql(is_postgres: bool) -> str:
    """One statement of constant text whatever the number of rows: one array parameter per column, zipped
    back into rows (its parsing and plan are cached by the drivers; a ``VALUES`` list of per-row parameters
    was a new statement for every size, 1-2 ms of client time to parse for a group of eight)."""
    arrays = [f"CAST(:{c} AS {'BIGINT' if c == 'line' else 'TEXT'}[])" for c in _STAGE_ROW_COLUMNS]
    if is_postgres:
        source = f"SELECT * FROM unnest({', '.join(arrays)})"
    else:
        source = "SELECT " + ", ".join(f"unnest({a})" for a in arrays)
    return f"INSERT INTO stage_raw ({', '.join(_STAGE_ROW_COLUMNS)}) {source}"


def _stage_write(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Empty the staging, stage ``rows`` and read the write's change position, in one round trip on
    PostgreSQL (the read waits for the two statements before it). Returns the change position."""
    with conn.pipelined():
        staging.reset_staging(conn, new_transaction=True)
        _stage_rows(conn, rows)
        return conn.change_seq()


def _stage_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    params = {c: [row.get(c) for row in rows] for c in _STAGE_ROW_COLUMNS}
    conn.execute(_stage_rows_sql(conn.is_postgres), params)


def _stage_arrow(conn: Connection, table: pa.Table, *, copy: bool = False) -> None:
    """Make ``table`` the ``stage_raw`` relation: COPY into the temporary table on PostgreSQL; on DuckDB a
    view over the Arrow table itself (scanned in place, no copy), or with ``copy`` (outside a transaction:
    see ``prepare_batch``) a copy into the temporary table, which the staging's joins read faster than the
    Arrow scan (845k Stripe entries: the copy took 1.2 s and made the next step 2.5 s faster). Call
    ``_unstage_arrow`` afterwards."""
    columns = ("line", "record_ref", "quarantine_id", "effective_at_ts", *staging.RAW_COLUMNS)
    present = [c for c in columns if c in table.column_names]
    prefix = (table.schema.metadata or {}).get(RECORD_REF_PREFIX)  # left by ``normalise_entries``
    if "record_ref" not in present and prefix is not None:
        staging.stage_record_ref_prefix(conn, prefix.decode())
    if conn.is_postgres:
        conn.load_arrow("stage_raw_in", table.select(present), staging.STAGE_RAW_DDL)
        targets = ", ".join(present)
        conn.execute(f"INSERT INTO stage_raw ({targets}) SELECT {targets} FROM stage_raw_in")
        conn.execute("DROP TABLE stage_raw_in")
        return
    conn.raw.register("_stage_in", in_scan_batches(table))
    projection = ", ".join(
        c if c in present
        else f"CAST(NULL AS {'TIMESTAMPTZ' if c == 'effective_at_ts' else 'BIGINT' if c == 'line' else 'TEXT'}) AS {c}"
        for c in columns
    )
    if copy:  # into the table ``reset_staging`` created
        conn.execute(f"INSERT INTO stage_raw SELECT {projection} FROM _stage_in")
        return
    conn.execute("DROP TABLE IF EXISTS stage_raw")
    conn.execute(f"CREATE OR REPLACE TEMPORARY VIEW stage_raw AS SELECT {projection} FROM _stage_in")


def _unstage_arrow(conn: Connection) -> None:
    if not conn.is_postgres:
        if conn.scalar("SELECT count(*) FROM duckdb_views() WHERE view_name = 'stage_raw' AND temporary"):
            conn.execute("DROP VIEW stage_raw")  # a copy (a table) is emptied by the next reset_staging
        conn.raw.unregister("_stage_in")


def _stage(conn: Connection, batch: pa.Table | ParquetSource, *, copy: bool = False) -> None:
    """Make ``batch`` the ``stage_raw`` relation: an Arrow table (``_stage_arrow``), or on DuckDB a Parquet
    file that DuckDB reads itself (always a copy into the temporary table). A data page that does not
    decode is the file's fault: ``InputError`` naming it."""
    if not isinstance(batch, ParquetSource):
        _stage_arrow(conn, batch, copy=copy)
        return
    import duckdb

    staging.stage_record_ref_prefix(conn, batch.record_ref_prefix)
    try:
        conn.execute(f"INSERT INTO stage_raw BY NAME {batch.sql}")
    except (duckdb.IOException, duckdb.InvalidInputException) as exc:
        raise InputError(f"{batch.path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from exc


def _run_pipeline(
    conn: Connection, *, default_ledger: str, source: str | None, actor: str, action: str,
    request_hash: str | None, audit: bool = True, seq: int | None = None, prepared: PreparedBatch | None = None,
) -> BatchResult:
    """Validate and apply whatever is in ``stage_raw``. The caller owns the database transaction.

    Amounts are at most 38 digits, and so are the per-currency sums of a transaction and the stored
    balances (NUMERIC(38,0)). A write that would take one of them past 38 digits is refused as a whole with
    ``RuleViolation`` (``balance_overflow``); the database transaction is rolled back, nothing is written.
    """
    with _overflow_refused():
        return _run_pipeline_unchecked(conn, default_ledger=default_ledger, source=source, actor=actor,
                                       action=action, request_hash=request_hash, audit=audit, seq=seq,
                                       prepared=prepared)


@contextmanager
def _overflow_refused() -> Iterator[None]:
    """A sum past 38 digits refuses the whole write: ``RuleViolation`` (``balance_overflow``)."""
    try:
        yield
    except Exception as exc:
        if _is_numeric_overflow(exc):
            raise RuleViolation([Violation(
                "batch", None, "balance_overflow",
                "a per-currency sum of a transaction or an account balance would exceed 38 digits "
                f"(NUMERIC(38,0)); nothing was written ({str(exc).splitlines()[0]})",
            )]) from exc
        raise


def _is_numeric_overflow(exc: Exception) -> bool:
    try:
        import psycopg.errors

        if isinstance(exc, psycopg.errors.NumericValueOutOfRange):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import duckdb

        return isinstance(exc, duckdb.OutOfRangeException)
    except ImportError:  # pragma: no cover
        return False


def _classify(conn: Connection, now: datetime) -> None:
    """Per-transaction aggregates, the rules, and each transaction's action (from ``batch_entries``)."""
    conn.execute(staging.prepare_txs_sql(conn), {"batch_time": now, "tx_id_prefix": id_prefix()})
    conn.execute(f"INSERT INTO batch_violations {violations_sql()}")
    conn.execute(staging.CLASSIFY_TXS)


def _stage_pipeline(conn: Connection, default_ledger: str, now: datetime) -> dict[str, ActionCount]:
    """Steps 1-2 of the pipeline on what is in ``stage_raw``: entries, aggregates, rules, actions.

    Round trips matter to single writes (~0.2 ms each on PostgreSQL): statements whose row counts are not
    read go out pipelined, and the read of the counts waits for them all.
    """
    with conn.pipelined():
        conn.execute(staging.prepare_entries_sql(conn), {"default_ledger": default_ledger})
        _classify(conn, now)
        return _action_counts(conn)


def _run_pipeline_unchecked(
    conn: Connection, *, default_ledger: str, source: str | None, actor: str, action: str,
    request_hash: str | None, audit: bool = True, seq: int | None = None, prepared: PreparedBatch | None = None,
) -> BatchResult:
    now = _now() if prepared is None else prepared.now
    batch_id = str(uuid.uuid4())
    seq = conn.change_seq() if seq is None else seq  # a caller may have read it already (see _stage_write)
    base = {"now": now, "seq": seq, "batch_id": batch_id, "source": source}
    counts = _stage_pipeline(conn, default_ledger, now) if prepared is None else dict(prepared.counts)
    if conn.is_postgres:
        # Lock the touched accounts' balance rows in id order (no deadlock, no overdraft); the same round
        # trip says whether any of them has a balance limit.
        touched_limits = sum(1 for _, limited in conn.all(staging.LOCK_BALANCES) if limited)
        # Statuses were read before the locks: a concurrent writer holding them may have moved one of our
        # pending transactions meanwhile. Any such writer held the same balance locks, so once we have them
        # a second reading is final (applying a stale transition would move balances twice).
        if counts.get("transition") and conn.scalar(staging.STALE_TRANSITIONS):
            conn.execute("DELETE FROM batch_txs")
            conn.execute("DELETE FROM batch_violations")
            _classify(conn, now)
            counts = _action_counts(conn)
    else:
        touched_limits = conn.scalar(
            "SELECT count(*) FROM ledger_accounts WHERE (min_available_balance IS NOT NULL "
            "OR max_available_balance IS NOT NULL) AND id IN (SELECT ledger_account_id FROM batch_entries)"
        )
    if touched_limits:
        conn.execute(staging.LIMIT_DELTAS)
        passes = 0
        while True:
            passes += 1
            exact = passes <= LIMIT_EXACT_PASSES
            new = conn.execute(f"INSERT INTO batch_violations {limit_violations_sql(first_only=exact)}")
            if conn.execute(staging.REJECT_NEW_VIOLATORS) <= 0 and new <= 0:
                break
        counts = _action_counts(conn)

    created = counts.get("create", NO_ACTION)
    transitioned = counts.get("transition", NO_ACTION)
    rejected = counts.get("reject", NO_ACTION)
    with conn.pipelined():
        if created.transactions:
            conn.execute(staging.INSERT_TRANSACTIONS, base)
            conn.execute(staging.insert_entries_sql(conn), {"now": now, "seq": seq, "entry_id_prefix": id_prefix()})
        if transitioned.transactions:
            conn.execute(staging.TRANSITION_TRANSACTIONS, {"now": now, "seq": seq})
            conn.execute(staging.TRANSITION_ENTRIES, {"seq": seq})
        if created.transactions or transitioned.transactions:
            conn.execute(staging.update_balances_sql(bool(created.transactions), bool(transitioned.transactions)),
                         {"now": now, "seq": seq})
    replayed = 0
    quarantined = 0
    if rejected.transactions:
        conn.execute(staging.quarantine_rejected_sql(conn), base)
        conn.execute(staging.update_still_rejected_sql(), {"seq": seq})
        # every refused transaction is in quarantine: added now, already open from an identical earlier
        # submission, or (when replaying) the open item that was replayed
        quarantined = rejected.transactions
    if any(c.replays for c in counts.values()):
        replayed = max(conn.execute(staging.UPDATE_REPLAYED_QUARANTINE,
                                    {"now": now, "seq": seq, "batch_id": batch_id}), 0)

    entries_in = sum(c.entries for c in counts.values())
    entries_posted = created.entries
    reason_counts: dict[str, int] = {}
    violations: tuple[Violation, ...] = ()
    if rejected.transactions:  # violations are only ever recorded against refused transactions
        reason_counts = dict(conn.all(
            "SELECT reason_code, count(DISTINCT tx_key) FROM batch_violations GROUP BY reason_code ORDER BY 1"
        ))
        violations = tuple(
            Violation(*row)
            for row in conn.all(
                "SELECT tx_key, line, reason_code, detail FROM batch_violations ORDER BY line, reason_code "
                f"LIMIT {MAX_REPORTED_VIOLATIONS}"
            )
        )
    result = BatchResult(
        batch_id=batch_id,
        transactions_in=sum(c.transactions for c in counts.values()),
        entries_in=int(entries_in),
        created=created.transactions,
        transitioned=transitioned.transactions,
        duplicates=counts.get("noop", NO_ACTION).transactions,
        quarantined=quarantined,
        entries_posted=int(entries_posted),
        reason_counts={k: int(v) for k, v in reason_counts.items()},
        violations=violations,
        replayed=replayed,
    )
    if audit:  # a group commit writes one audit row per request instead (LedgerWriter._post_together)
        detail = {k: v for k, v in result.as_dict().items() if k != "violations"}
        write_audit(conn, actor=actor, action=action, object_type="batch", object_id=batch_id,
                    request_hash=request_hash, detail=detail, seq=seq, now=now)
    return result


class ActionCount(NamedTuple):
    """How many of a batch's transactions got one action, how many of them are quarantine replays, and
    their entries."""

    transactions: int
    replays: int
    entries: int


NO_ACTION = ActionCount(0, 0, 0)


def _action_counts(conn: Connection) -> dict[str, ActionCount]:
    """``ActionCount`` per action (create, transition, noop, reject), in one round trip."""
    return {
        action: ActionCount(int(n), int(replays), int(entries or 0))
        for action, n, replays, entries in conn.all(
            "SELECT action, count(*), count(quarantine_id), sum(n_entries) FROM batch_txs GROUP BY action"
        )
    }


def write_audit(
    conn: Connection, *, actor: str, action: str, object_type: str, object_id: str | None,
    request_hash: str | None, detail: Mapping[str, Any], seq: int, now: datetime | None = None,
) -> None:
    conn.execute(
        "INSERT INTO audit_log (id, occurred_at, actor, action, object_type, object_id, request_hash, detail, change_seq) "
        "VALUES (:id, :occurred_at, :actor, :action, :object_type, :object_id, :request_hash, :detail, :seq)",
        {
            "id": str(uuid.uuid4()), "occurred_at": now or _now(), "actor": actor, "action": action,
            "object_type": object_type, "object_id": object_id, "request_hash": request_hash,
            "detail": json.dumps(detail, sort_keys=True, default=str), "seq": seq,
        },
    )


def post_batch_rows(
    conn: Connection, table: pa.Table, *, default_ledger: str = "main", source: str | None = None,
    actor: str = "batch", request_hash: str | None = None,
) -> BatchResult:
    """Post a table of entry rows (see ``staging.RAW_COLUMNS``) on an open transaction. A table that has not
    been through ``batch_input.normalise_entries`` (no ``line`` column) is normalised here first."""
    table = _numbered(table)
    with bulk_memory_limit(conn):
        return _stage_and_run(conn, table, default_ledger=default_ledger, source=source, actor=actor,
                              request_hash=request_hash)


def _numbered(table: pa.Table) -> pa.Table:
    if "line" not in table.column_names:
        from ledger_pipeline.ledger.batch_input import normalise_entries

        return normalise_entries(table)
    _check_lines(table.column("line"))
    return table


def _stage_and_run(conn: Connection, batch: pa.Table | ParquetSource, **pipeline: Any) -> BatchResult:
    staging.reset_staging(conn)
    _stage(conn, batch)
    with _unstaging(conn):
        return _run_pipeline(conn, action="post_batch", **pipeline)


@contextmanager
def _unstaging(conn: Connection) -> Iterator[None]:
    """``_unstage_arrow`` once the block is done, however it ends."""
    try:
        yield
    except BaseException:
        try:  # on an aborted transaction this fails too; the original error is the one to report
            _unstage_arrow(conn)
        except Exception:  # noqa: BLE001
            pass
        raise
    _unstage_arrow(conn)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch staged (steps 1-2 of the pipeline) and committed before its writing transaction: the
    connection's staging tables hold it. ``mark`` was taken before anything the staging depends on was
    read (see ``_post_batch_duckdb``), ``now`` is the batch time the staging used."""

    batch: pa.Table | ParquetSource
    mark: ChangeMark
    now: datetime
    counts: Mapping[str, ActionCount]


def prepare_batch(conn: Connection, batch: pa.Table | ParquetSource, default_ledger: str,
                  since: ChangeMark | None = None) -> PreparedBatch:
    """Stage ``batch`` (an Arrow table of entries, or a Parquet file that DuckDB reads itself) outside any
    transaction (DuckDB; see ``_post_batch_duckdb``): each statement commits on its own, so that the next
    one scans committed rows in parallel. The staging tables are the connection's own; a failure leaves rows
    in them that the next staging deletes. ``since``: a mark the caller took before it read what ``batch``
    was made from (by default, one is taken now). The caller holds the store's write lock and posts with
    ``post_prepared``."""
    if not isinstance(batch, ParquetSource):
        batch = _numbered(batch)
    mark = since or conn.change_mark()
    now = _now()
    staging.reset_staging(conn)
    try:
        # the staging tables are read in no physical order (their readers join, group or sort), so DuckDB
        # may append to them on every core
        with conn.unordered_appends():
            _stage(conn, batch, copy=True)
            with _overflow_refused():
                counts = _stage_pipeline(conn, default_ledger, now)
    except BaseException:
        _unstage_arrow(conn)  # no transaction is open: this cannot fail for an aborted one
        raise
    return PreparedBatch(batch, mark, now, counts)


def _post_batch_duckdb(store: Store, batch: pa.Table | ParquetSource, **pipeline: Any) -> BatchResult:
    """A bulk post into a DuckDB file, staged outside the writing transaction.

    DuckDB scans data written in the still-open transaction on one thread (it is held in
    transaction-local storage), so staging inside the writing transaction ran most statements of a post on
    one core. Here the staging (entries, aggregates, rules, actions) runs before the writing transaction,
    each statement committed into the connection's temporary tables, so that every later statement scans
    them in parallel.
    That is sound because the staging reads ledger state (accounts, existing transactions) that nothing
    changes in between: the store's write lock is held across both (every write of this package holds
    it). As a check on writes that bypass it, the writing transaction makes sure that every change position
    handed out since staging began was this connection's (``Connection.only_own_changes_since``); if not,
    it stages the batch again inside.
    """
    in_python = not isinstance(batch, ParquetSource)
    with store.write_lock(), store.connect() as conn, bulk_memory_limit(conn, batch_in_python=in_python):
        prepared = prepare_batch(conn, batch, pipeline["default_ledger"])
        with conn.transaction():
            return post_prepared(conn, prepared, seq=conn.change_seq(), **pipeline)


def post_prepared(conn: Connection, prepared: PreparedBatch, *, seq: int, **pipeline: Any) -> BatchResult:
    """Post a batch staged by ``prepare_batch`` on the caller's writing transaction, whose change position
    ``seq`` the caller has just taken; if another connection wrote since the staging's mark, the batch is
    staged again first (inside the transaction), so the post never acts on a stale reading. ``pipeline``:
    ``default_ledger``, ``source``, ``actor``, ``request_hash``."""
    if not conn.only_own_changes_since(prepared.mark, seq):
        _unstage_arrow(conn)
        return _stage_and_run(conn, prepared.batch, seq=seq, **pipeline)
    with _unstaging(conn):
        return _run_pipeline(conn, action="post_batch", prepared=prepared, seq=seq, **pipeline)


MAX_LINE = 2**32 - 1  # a line is the counter of its row's id (``ids.py``)


def _check_lines(lines: pa.ChunkedArray) -> None:
    """A caller's own ``line`` column must number the rows uniquely within 0 .. ``MAX_LINE``: lines locate
    rows in errors and quarantine, and number the new ids. A programming error otherwise, not bad input.

    Checked with NumPy on a copy of 8 bytes a row (a sort only when the lines are not already increasing):
    Arrow's ``count_distinct`` built a hash table that kept ~400 MB of a million-transaction post's peak RSS.
    """
    if len(lines) == 0:
        return
    import numpy as np

    if lines.null_count:
        raise ValueError(f"batch lines must be integers in 0..{MAX_LINE} ({lines.null_count} null)")
    values = lines.to_numpy()
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > MAX_LINE:
        raise ValueError(f"batch lines must be integers in 0..{MAX_LINE} (got {low}..{high})")
    if not (np.diff(values) > 0).all() and not (np.diff(np.sort(values)) > 0).all():
        raise ValueError("batch lines must be unique: each one locates a row and numbers its id")


DUCKDB_BULK_MEMORY_LIMIT = "768MB"  # the batch is also held in Python, as an Arrow table
DUCKDB_FILE_BULK_MEMORY_LIMIT = "1200MB"  # DuckDB reads the batch's file itself (``batch_input.ParquetSource``)


@contextmanager
def bulk_memory_limit(conn: Connection, *, batch_in_python: bool = True) -> Iterator[None]:
    """Cap DuckDB's memory while a batch posts into a file-backed store, so that a million-transaction batch
    spills its staging to disk (next to the store) instead of growing the process past ~1.5 GB (the cap counts
    DuckDB's buffer pool only; Python, the Arrow batch and DuckDB's other allocations come on top). The cap is
    ``LEDGER_DUCKDB_BULK_MEMORY_LIMIT`` (DuckDB's syntax, e.g. ``4GB``; ``none`` leaves DuckDB's default of
    80 % of RAM); by default ``DUCKDB_BULK_MEMORY_LIMIT``, or ``DUCKDB_FILE_BULK_MEMORY_LIMIT`` when the
    batch is not held in Python (``batch_in_python=False``: DuckDB reads it from its file), which leaves
    DuckDB the ~200 MB of process memory an Arrow batch of a million transactions takes (measured on the
    benchmark's million transactions: peak RSS 1.18 GB from Arrow at 768 MB, 0.98 GB from the file at
    768 MB and 1.38 GB at 1200 MB, which is 0.5 s faster). The previous setting is restored afterwards."""
    default = DUCKDB_BULK_MEMORY_LIMIT if batch_in_python else DUCKDB_FILE_BULK_MEMORY_LIMIT
    limit = os.environ.get("LEDGER_DUCKDB_BULK_MEMORY_LIMIT", default)
    if conn.is_postgres or limit.lower() == "none" or not conn.scalar(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ):
        yield
        return
    previous = conn.scalar("SELECT current_setting('memory_limit')")
    conn.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
    try:
        yield
    finally:
        try:  # after a failed statement the transaction is aborted and refuses this; the error in flight counts
            conn.execute("RESET memory_limit")  # exact when it was DuckDB's default, the usual case
            if conn.scalar("SELECT current_setting('memory_limit')") != previous:
                conn.execute(f"SET memory_limit = '{previous}'")  # a custom setting, as DuckDB prints it
        except Exception:  # noqa: BLE001
            pass


def post_batch_file(
    store: Store, path: str | Path, *, default_ledger: str = "main", source: str | None = None,
    actor: str = "batch", request_hash: str | None = None,
) -> BatchResult:
    """Read and post a CSV or Parquet file of entries (``post_batch``). A Parquet file posted into a DuckDB
    file is read by DuckDB itself (``batch_input.parquet_source``; ``post_batch`` decides); anything else is
    read into Arrow first (``batch_input.read_entries_file``). Both give the same rows, lines and errors."""
    path = Path(path)
    batch = parquet_source(path) if path.suffix.lower() in (".parquet", ".pq") else None
    if batch is None:
        batch = read_entries_file(path)
    return post_batch(store, batch, default_ledger=default_ledger, source=source, actor=actor,
                      request_hash=request_hash)


def _stages_before_writing(store: Store) -> bool:
    """A DuckDB file: bulk posts stage before their writing transaction (``_post_batch_duckdb``)."""
    return not store.is_postgres and store.target != ":memory:"


def post_batch(
    store: Store, table: pa.Table | ParquetSource, *, default_ledger: str = "main", source: str | None = None,
    actor: str = "batch", request_hash: str | None = None,
) -> BatchResult:
    """Validate and post a batch of entries in one database transaction; refused transactions go to
    quarantine with their reason codes and raw rows. ``table`` comes from ``batch_input.read_entries_file``
    (or is a ``batch_input.ParquetSource``, which only a DuckDB file stages as it is; other stores read it
    into Arrow first).

    If a concurrent writer commits one of the batch's external_ids first (PostgreSQL's unique index
    refuses the insert), the whole batch is rolled back and run again: posting is idempotent, so the
    retry sees that transaction as a no-op or a conflict.
    """
    pipeline = {"default_ledger": default_ledger, "source": source, "actor": actor, "request_hash": request_hash}

    if isinstance(table, ParquetSource) and not _stages_before_writing(store):
        table = read_entries_file(table.path)

    def attempt() -> BatchResult:
        if _stages_before_writing(store):
            return _post_batch_duckdb(store, table, **pipeline)
        with store.transaction() as conn:
            return post_batch_rows(conn, table, **pipeline)

    return _with_retries(attempt, MAX_BATCH_ATTEMPTS, 0.05)


GROUP_COMMIT_MAX = 64  # transactions run together at most (see LedgerWriter and group_commit.py)


@dataclass(frozen=True)
class _PendingWrite:
    """A single-transaction write as the pipeline stages it, and whose it is."""

    tx: TransactionInput
    rows: list[dict[str, Any]]
    quarantine_on_reject: bool
    actor: str

    @functools.cached_property
    def payload_hash(self) -> str:  # read by the pipeline and by the group's audit row: computed once
        return hashlib.sha256(json.dumps(self.rows, sort_keys=True, default=str).encode()).hexdigest()


def _group_key(write: _PendingWrite) -> str | None:
    """The staged transaction key of a write (its external_id as the pipeline trims it); writes with the
    same key never share a group, and one without (no entries, a blank external_id) runs alone."""
    key = str(write.rows[0]["external_id"]).strip(" ") if write.rows else ""
    return key or None


class _GroupRefused(Exception):
    """A group in which some transaction was refused: rolled back, then each write runs alone."""


def _write_group_audit(conn: Connection, writes: list[_PendingWrite], results: list[TransactionResult],
                       batch_id: str) -> None:
    """One audit row per write of a group commit, in one statement of constant text (array parameters)."""
    params: dict[str, Any] = {
        "now": _now(), "seq": conn.change_seq(), "batch_id": batch_id,
        "ids": [str(uuid.uuid4()) for _ in writes], "actors": [w.actor for w in writes],
        "hashes": [w.payload_hash for w in writes],
        "details": [json.dumps({"batch_id": batch_id, "group_size": len(writes), "external_id": r.external_id,
                                "transaction_id": r.id, "action": r.action}, sort_keys=True) for r in results],
    }
    arrays = "CAST(:ids AS TEXT[]), CAST(:actors AS TEXT[]), CAST(:hashes AS TEXT[]), CAST(:details AS TEXT[])"
    if conn.is_postgres:
        source = (f"SELECT u.id, CAST(:now AS TIMESTAMPTZ), u.actor, 'post_transaction', 'group', :batch_id, u.hash, "
                  f"u.detail, :seq FROM unnest({arrays}) AS u(id, actor, hash, detail)")
    else:
        ids, actors, hashes, details = (f"unnest({a.strip()})" for a in arrays.split(", "))
        source = (f"SELECT {ids}, CAST(:now AS TIMESTAMPTZ), {actors}, 'post_transaction', 'group', :batch_id, "
                  f"{hashes}, {details}, :seq")
    conn.execute("INSERT INTO audit_log (id, occurred_at, actor, action, object_type, object_id, request_hash, "
                 f"detail, change_seq) {source}", params)


class LedgerWriter:
    """A long-lived connection for one-transaction-at-a-time writes (an API handler, an event consumer).

    Each call is its own database transaction. On PostgreSQL, concurrent writers serialise on the balance
    rows of the accounts they touch (locked in id order), so a balance limit holds under any concurrency;
    a race on the same ``external_id`` is resolved by the unique index and a retry that then sees a no-op
    or a conflict. On DuckDB, writers of one process (threads) take turns on a per-file lock when opened
    with ``open_writer`` (see ``Store.write_lock``); a write that loses a race anyway is retried.

    Group commit (writers opened with ``open_writer``; see ``group_commit.py``): when threads of this
    process post at the same time, the waiting transactions (distinct external_ids, up to
    ``GROUP_COMMIT_MAX``) run as one pipeline in one database transaction, which costs about what one of them
    alone would. Each caller still gets its own ``TransactionResult``, and the audit log its own row (object
    ``group``: the shared batch id, this request's hash and outcome). If any of them is refused, or the
    group fails for any other reason, the group is rolled back and each transaction is posted on its own,
    so refusals, their quarantine and their errors are exactly those of a lone write. A lone writer is never
    held back; while writers are concurrent a leader waits 0.2 ms for company (``group_commit.GATHER_S``).
    """

    def __init__(self, conn: Connection, actor: str = "api", lock: AbstractContextManager | None = None,
                 group: GroupCommit | None = None):
        self.conn = conn
        self.actor = actor
        self._lock = lock if lock is not None else nullcontext()
        self._group = group
        if conn.is_postgres:  # created outside any transaction, so a refused first write cannot undo them
            staging.reset_staging(conn, writer=True)

    def post(self, tx: TransactionInput, *, quarantine_on_reject: bool = False) -> TransactionResult:
        """Create a transaction (or apply a pending -> posted | archived transition, or no-op on a repeat).

        Raises ``RuleViolation`` with every broken rule when refused; with ``quarantine_on_reject`` the
        refused payload is also kept in quarantine for replay.
        """
        pending = _PendingWrite(tx, tx.raw_rows(), quarantine_on_reject, self.actor)
        if self._group is None:
            return self._post_alone(pending)
        return self._group.submit(pending, _group_key(pending), self._post_group)

    def _post_alone(self, pending: _PendingWrite) -> TransactionResult:
        # a concurrent insert of the same external_id (PostgreSQL) or a write-write conflict on a balance row
        # (DuckDB's optimistic concurrency): the retry sees the other write committed
        return _with_retries(lambda: self._post_once(pending), MAX_WRITE_ATTEMPTS, 0.002)

    def _post_once(self, pending: _PendingWrite) -> TransactionResult:
        tx = pending.tx
        with self._transaction() as conn:
            seq = _stage_write(conn, pending.rows)
            result = _run_pipeline(conn, default_ledger=tx.ledger, source=tx.source, actor=pending.actor,
                                   action="post_transaction", request_hash=pending.payload_hash, seq=seq)
            if result.violations and not pending.quarantine_on_reject:
                raise RuleViolation(result.violations)
            row = conn.one(
                "SELECT COALESCE(t.existing_id, t.new_id), t.external_id, t.status, t.action FROM batch_txs t"
            )
        if result.violations:
            raise RuleViolation(result.violations)
        return TransactionResult(id=row[0], external_id=row[1], status=row[2], action=row[3])

    def _post_group(self, group: list[Request]) -> None:
        """``GroupCommit``'s ``run_group``, on the leading writer's connection: all together when they all
        post, otherwise each alone. Finishes every request."""
        if len(group) > 1:
            try:
                results = self._post_together([request.item for request in group])
            except Exception:  # noqa: BLE001 - any failure of the group: each write again on its own
                results = None
            if results is not None:
                for request, result in zip(group, results, strict=True):
                    request.finish(result=result)
                return
        for request in group:
            try:
                request.finish(result=self._post_alone(request.item))
            except Exception as exc:  # noqa: BLE001 - the caller's own error, raised in its thread
                request.finish(error=exc)

    def _post_together(self, writes: list[_PendingWrite]) -> list[TransactionResult] | None:
        """Post ``writes`` (distinct external_ids) in one pipeline run and database transaction. Returns
        ``None``, having written nothing, when any of them is refused."""
        rows: list[dict[str, Any]] = []
        for write in writes:  # lines numbered across the group: they number the new ids (ids.py)
            offset = len(rows)
            rows.extend([{**row, "line": offset + i} for i, row in enumerate(write.rows, start=1)])

        def attempt() -> list[TransactionResult]:
            with self._transaction() as conn:
                seq = _stage_write(conn, rows)
                result = _run_pipeline(conn, default_ledger=writes[0].tx.ledger, source=None, actor=self.actor,
                                       action="post_transaction", request_hash=None, audit=False, seq=seq)
                if result.quarantined or result.violations:
                    raise _GroupRefused
                outcome = {
                    key: TransactionResult(id=tx_id, external_id=external_id, status=status, action=action)
                    for key, tx_id, external_id, status, action in conn.all(
                        "SELECT tx_key, COALESCE(existing_id, new_id), external_id, status, action FROM batch_txs")
                }
                results = [outcome[_group_key(write)] for write in writes]
                _write_group_audit(conn, writes, results, result.batch_id)
            return results

        try:
            return _with_retries(attempt, MAX_WRITE_ATTEMPTS, 0.002)
        except _GroupRefused:
            return None

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._lock, self.conn.transaction():
            yield self.conn

    def transition(self, transaction_id: str, status: str) -> TransactionResult:
        """Move a pending transaction to ``posted`` or ``archived`` (rule 6 refuses anything else)."""
        found = self.conn.dicts(
            "SELECT t.external_id, l.name AS ledger FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
            "WHERE t.id = :id OR t.external_id = :id", {"id": transaction_id}
        )
        if not found:
            raise NotFoundError(f"ledger transaction {transaction_id} not found")
        original = load_transaction_input(self.conn, found[0]["external_id"], found[0]["ledger"])
        return self.post(_replace(original, status=status))

    def reverse(self, transaction_id: str, *, external_id: str | None = None,
                effective_at: datetime | None = None, description: str | None = None) -> TransactionResult:
        """Correct a posted transaction by a new one with every entry's direction flipped.

        The reversal's external_id defaults to ``<original external_id>:reversal`` and its effective time to
        now, so calling this again (after a timeout, say) is a no-op that returns the same reversal. Only a
        posted transaction can be reversed: a pending one is cancelled by archiving it
        (``invalid_status_transition`` otherwise). Balance limits apply to the reversal like to any write.
        """
        found = self.conn.dicts(
            "SELECT t.id, t.external_id, t.status, l.name AS ledger FROM ledger_transactions t "
            "JOIN ledgers l ON l.id = t.ledger_id WHERE t.id = :id OR t.external_id = :id", {"id": transaction_id}
        )
        if not found:
            raise NotFoundError(f"ledger transaction {transaction_id} not found")
        if found[0]["status"] != "posted":
            raise RuleViolation([Violation(
                found[0]["external_id"], None, "invalid_status_transition",
                f"transaction {found[0]['external_id']} is {found[0]['status']}; only a posted transaction can be "
                "reversed (archive a pending one instead)",
            )])
        original = load_transaction_input(self.conn, found[0]["external_id"], found[0]["ledger"])
        flipped = [
            EntryInput(e.account, "credit" if e.direction == "debit" else "debit", e.amount, e.currency)
            for e in original.entries
        ]
        return self.post(TransactionInput(
            entries=flipped,
            external_id=external_id or f"{found[0]['external_id']}:reversal",
            ledger=found[0]["ledger"],
            status="posted",
            effective_at=effective_at,  # None: now for a new reversal, the stored one's on a repeat
            description=description or f"Reversal of {found[0]['external_id']}",
            metadata=original.metadata,
            source=original.source,
            reverses_id=found[0]["id"],
        ))


def _replace(tx: TransactionInput, **changes: Any) -> TransactionInput:
    from dataclasses import replace

    return replace(tx, **changes)


def load_transaction_input(conn: Connection, external_id: str, ledger: str) -> TransactionInput:
    """Rebuild the input of a stored transaction (for transitions and reversals)."""
    rows = conn.dicts(
        "SELECT t.external_id, t.status, t.effective_at, t.description, t.metadata, t.source, t.ledgerable_type, "
        "t.ledgerable_id, t.reverses_id, a.id AS account, e.direction, e.amount, e.currency "
        "FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
        "JOIN ledger_entries e ON e.ledger_transaction_id = t.id "
        "JOIN ledger_accounts a ON a.id = e.ledger_account_id "
        "WHERE t.external_id = :external_id AND l.name = :ledger ORDER BY e.id",
        {"external_id": external_id, "ledger": ledger},
    )
    if not rows:
        raise NotFoundError(f"ledger transaction {external_id} not found in ledger {ledger}")
    first = rows[0]
    return TransactionInput(
        entries=[EntryInput(r["account"], r["direction"], int(r["amount"]), r["currency"]) for r in rows],
        external_id=first["external_id"],
        ledger=ledger,
        status=first["status"],
        effective_at=first["effective_at"],
        description=first["description"],
        metadata=first["metadata"],
        source=first["source"],
        ledgerable_type=first["ledgerable_type"],
        ledgerable_id=first["ledgerable_id"],
        reverses_id=first["reverses_id"],
    )


def _is_unique_violation(exc: Exception) -> bool:
    try:
        import psycopg.errors
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.errors.UniqueViolation)


def _is_retryable(exc: Exception) -> bool:
    """Errors that only mean "another writer got there first": retrying the whole write is safe."""
    if isinstance(exc, RuleViolation):
        return False
    if _is_unique_violation(exc):
        return True
    try:
        import psycopg.errors

        if isinstance(exc, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import duckdb

        return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()
    except ImportError:  # pragma: no cover
        return False


def _with_retries(attempt_once: Callable[[], T], attempts: int, pause_s: float) -> T:
    """Run ``attempt_once`` until it succeeds, retrying up to ``attempts`` times in all when it only lost a
    race (``_is_retryable``), after a random pause growing by ``pause_s`` per attempt."""
    for attempt in range(attempts):
        try:
            return attempt_once()
        except Exception as exc:
            if attempt + 1 < attempts and _is_retryable(exc):
                time.sleep(random.uniform(0, pause_s * (attempt + 1)))
                continue
            raise
    raise AssertionError("unreachable")


@contextmanager
def open_writer(store: Store, actor: str = "api", *, group_commit: bool | None = None) -> Iterator[LedgerWriter]:
    """A ``LedgerWriter`` on its own connection. ``group_commit`` (default: on, unless the environment sets
    ``LEDGER_GROUP_COMMIT=off``) lets concurrent writers of this process to the same store post together."""
    if group_commit is None:
        group_commit = os.environ.get("LEDGER_GROUP_COMMIT", "on").lower() not in ("off", "0", "false", "no")
    with store.connect() as conn:
        yield LedgerWriter(conn, actor=actor, lock=store.write_lock(),
                           group=group_for(store) if group_commit else None)


_GROUPS: dict[str, GroupCommit] = {}
_GROUPS_GUARD = threading.Lock()


def group_for(store: Store) -> GroupCommit | None:
    """The process's group commit for ``store`` (one per database; none for an in-memory DuckDB, which
    every connection sees as its own database)."""
    if store.is_postgres:
        key = store.url
    elif store.target == ":memory:":
        return None
    else:
        key = os.path.realpath(store.target)
    with _GROUPS_GUARD:
        return _GROUPS.setdefault(key, GroupCommit(GROUP_COMMIT_MAX))


def post_transaction(store: Store, tx: TransactionInput, *, actor: str = "api") -> TransactionResult:
    """Post one transaction on its own connection (see ``LedgerWriter`` to post many)."""
    with open_writer(store, actor=actor) as writer:
        return writer.post(tx)
