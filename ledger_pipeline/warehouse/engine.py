"""The incremental sync: for each exported table, the rows changed since the destination's acknowledged
position, staged and merged there, with the new position recorded in the same destination transaction.

Exactly once, by construction: a row is read when ``position <= change_seq < watermark`` (the watermark is
taken in the same store snapshot, so every such write is committed); the destination merges by primary key
and moves the position in the same transaction. A sync that dies anywhere is simply run again: the position
did not move, so the same rows are merged again, to the same result. A destination that is down is retried
with exponential backoff (tenacity) and then reported as ``DestinationUnavailable`` with where and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ledger_pipeline.ledger.store import Store
from ledger_pipeline.progress import ProgressHook, no_progress
from ledger_pipeline.warehouse.base import Destination, DestinationUnavailable
from ledger_pipeline.warehouse.config import ConfigError, TargetConfig
from ledger_pipeline.warehouse.extract import existing_tables, read_changes_stream, snapshot
from ledger_pipeline.warehouse.tables import EXPORT_TABLES, RAW_JSON, ExportTable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableSync:
    table: str
    rows: int
    from_position: int
    to_position: int


@dataclass(frozen=True)
class SyncResult:
    """What one sync moved: rows merged and positions per table, the store watermark, the duration."""

    target: str
    destination: str
    watermark: int
    tables: tuple[TableSync, ...]
    started_at: datetime
    duration_s: float
    attempts: int = 1
    skipped_tables: tuple[str, ...] = field(default=())

    @property
    def rows(self) -> dict[str, int]:
        return {t.table: t.rows for t in self.tables}

    @property
    def positions(self) -> dict[str, tuple[int, int]]:
        return {t.table: (t.from_position, t.to_position) for t in self.tables}

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "destination": self.destination, "watermark": self.watermark,
            "started_at": self.started_at.isoformat(), "duration_s": round(self.duration_s, 3),
            "attempts": self.attempts, "total_rows": self.total_rows,
            "tables": [{"table": t.table, "rows": t.rows, "from_position": t.from_position,
                        "to_position": t.to_position} for t in self.tables],
            "skipped_tables": list(self.skipped_tables),
        }


def create_destination(config: TargetConfig) -> Destination:
    """The destination module for a target's ``type`` (imported lazily: each has its own client library)."""
    if config.type == "duckdb":
        from ledger_pipeline.warehouse.duckdb import DuckDBDestination
        return DuckDBDestination(config)
    if config.type == "postgres":
        from ledger_pipeline.warehouse.postgres import PostgresDestination
        return PostgresDestination(config)
    if config.type == "redshift":
        from ledger_pipeline.warehouse.redshift import RedshiftDestination
        return RedshiftDestination(config)
    if config.type == "bigquery":
        from ledger_pipeline.warehouse.bigquery import BigQueryDestination
        return BigQueryDestination(config)
    if config.type == "snowflake":
        from ledger_pipeline.warehouse.snowflake import SnowflakeDestination
        return SnowflakeDestination(config)
    raise ConfigError(f"target {config.name!r}: unknown destination type {config.type!r}")


def _without_raw_json(stream: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """The stream without its ``raw_json`` column (a target that does not keep it)."""
    index = stream.schema.get_field_index(RAW_JSON)
    return pa.RecordBatchReader.from_batches(stream.schema.remove(index),
                                             (batch.drop_columns([RAW_JSON]) for batch in stream))


def _counted(stream: pa.RecordBatchReader, table: str, progress: ProgressHook) -> pa.RecordBatchReader:
    """``stream``, reporting ``rows`` (the running count of ``table``'s rows read) after each batch."""
    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        for batch in stream:
            rows += batch.num_rows
            progress("rows", {"table": table, "rows": rows})
            yield batch

    return pa.RecordBatchReader.from_batches(stream.schema, batches())


def _sync_once(store: Store, destination: Destination, tables: Iterable[ExportTable], target: str,
               attempt: int, started: float, started_at: datetime, raw_json: bool = True,
               progress: ProgressHook = no_progress) -> SyncResult:
    destination.open()
    try:
        positions = destination.positions()
        done: list[TableSync] = []
        skipped: list[str] = []
        with snapshot(store) as (conn, watermark):
            in_store = existing_tables(conn)
            for table in tables:
                if table.source_table not in in_store:
                    skipped.append(table.name)  # an optional component's table that this store lacks
                    continue
                written = table if raw_json else table.without_raw_json()
                destination.ensure_table(written)
                low = positions.get(table.name, 0)
                if low >= watermark:
                    done.append(TableSync(table.name, 0, low, low))
                    continue
                stream = read_changes_stream(conn, table, low, watermark, started_at)
                if not raw_json:
                    stream = _without_raw_json(stream)
                if progress is not no_progress:
                    stream = _counted(stream, table.name, progress)
                if destination.streams:
                    rows = destination.write_stream(written, stream, watermark)
                else:
                    data = stream.read_all()
                    rows = data.num_rows
                    if rows:
                        destination.write(written, data, watermark)
                    else:
                        destination.record_position(written, watermark)
                log.info("synced %s rows of %s to %s", rows, table.name, target)
                progress("synced", {"table": table.name, "rows": rows})
                done.append(TableSync(table.name, rows, low, watermark))
        return SyncResult(target, destination.describe(), watermark, tuple(done), started_at,
                          time.perf_counter() - started, attempt, tuple(skipped))
    finally:
        destination.close()


def sync_target(store: Store, target: TargetConfig, *, tables: Iterable[str] | None = None,
                destination: Destination | None = None, progress: ProgressHook = no_progress) -> SyncResult:
    """Push what changed in ``store`` to ``target``; safe to run again at any time (and after any crash).

    ``tables`` limits the sync to some registry tables (default: all). ``destination`` lets a caller pass
    an already-built destination (tests, emulators); by default it is built from ``target``. ``progress``
    hears ``rows`` (a table's running row count) and ``synced`` (a table done).
    """
    destination = destination or create_destination(target)
    selected = tuple(EXPORT_TABLES) if tables is None else tuple(t for t in EXPORT_TABLES if t.name in set(tables))
    attempts, wait_initial, wait_max = target.retry_settings()
    raw_json = target.keeps_raw_json()
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=wait_initial, max=wait_max),
        retry=retry_if_exception_type(destination.transient_errors),
        before_sleep=lambda state: log.warning(
            "warehouse target %r (%s) unavailable (attempt %d): %s; retrying", target.name,
            destination.describe(), state.attempt_number, state.outcome.exception()),
        reraise=False,
    )
    try:
        for attempt in retrying:
            with attempt:
                return _sync_once(store, destination, selected, target.name,
                                  attempt.retry_state.attempt_number, started, started_at, raw_json, progress)
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise DestinationUnavailable(
            f"warehouse target {target.name!r} ({destination.describe()}) is unavailable after "
            f"{attempts} attempt(s) over {time.perf_counter() - started:.1f}s: {type(cause).__name__}: {cause}"
        ) from cause
    raise AssertionError("unreachable")  # pragma: no cover
