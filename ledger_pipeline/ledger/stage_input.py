"""Putting a proposed batch into ``stage_raw``, where the pipeline (``pipeline.py``) reads it: rows of a
single write as array parameters, an Arrow table, or a Parquet file that the engine reads itself."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger_pipeline.ledger import staging
from ledger_pipeline.ledger.batch_input import (
    RECORD_REF_PREFIX,
    ParquetSource,
    normalise_entries,
    read_entries_file,
)
from ledger_pipeline.ledger.engines import StoreEngine
from ledger_pipeline.ledger.store import Connection

_STAGE_ROW_COLUMNS = ("line", "record_ref", "quarantine_id", *staging.RAW_COLUMNS)  # effective_at_ts stays NULL
_STAGE_ARROW_COLUMNS = ("line", "record_ref", "quarantine_id", "effective_at_ts", *staging.RAW_COLUMNS)
_STAGE_ROWS_SQL: dict[str, str] = {}


def _stage_rows_sql(engine: StoreEngine) -> str:
    """One statement of constant text whatever the number of rows: one array parameter per column, zipped
    back into rows (its parsing and plan are cached by the drivers; a ``VALUES`` list of per-row parameters
    was a new statement for every size). Built once per engine."""
    sql = _STAGE_ROWS_SQL.get(engine.name)
    if sql is None:
        arrays = [f"CAST(:{c} AS {'BIGINT' if c == 'line' else 'TEXT'}[])" for c in _STAGE_ROW_COLUMNS]
        sql = f"INSERT INTO stage_raw ({', '.join(_STAGE_ROW_COLUMNS)}) {engine.zip_arrays(arrays, _STAGE_ROW_COLUMNS)}"
        _STAGE_ROWS_SQL[engine.name] = sql
    return sql


def stage_write(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Empty the staging, stage ``rows`` and read the write's change position, in one round trip on
    PostgreSQL (the read waits for the two statements before it). Returns the change position."""
    with conn.pipelined():
        staging.reset_staging(conn, new_transaction=True)
        params = {c: [_storable(row.get(c)) for row in rows] for c in _STAGE_ROW_COLUMNS}
        conn.execute(_stage_rows_sql(conn.engine), params)
        return conn.change_seq()


#: what stands in for text no store keeps (a NUL byte): the ``valid_text`` rule refuses a row holding it
UNSTORABLE_MARK = "\ufffd"


def _storable(value: Any) -> Any:
    """A single write's value, with any NUL byte (PostgreSQL text cannot hold one) as ``UNSTORABLE_MARK``."""
    return value.replace("\x00", UNSTORABLE_MARK) if isinstance(value, str) else value


def storable_text(table: pa.Table) -> pa.Table:
    """``table`` with every NUL byte of its text columns as ``UNSTORABLE_MARK`` (columnar; a column is only
    rewritten when it holds one)."""
    for index, field in enumerate(table.schema):
        if not pa.types.is_string(field.type):
            continue
        column = table.column(index)
        if pc.any(pc.match_substring(column, "\x00")).as_py():
            table = table.set_column(index, field, pc.replace_substring(column, "\x00", UNSTORABLE_MARK))
    return table


def _stage_arrow(conn: Connection, table: pa.Table, *, copy: bool = False) -> None:
    """Make ``table`` the ``stage_raw`` relation (``StoreEngine.stage_arrow``: a copy, or on DuckDB
    without ``copy`` a view over the Arrow table itself). Call ``unstage`` afterwards."""
    table = storable_text(table)
    present = [c for c in _STAGE_ARROW_COLUMNS if c in table.column_names]
    prefix = (table.schema.metadata or {}).get(RECORD_REF_PREFIX)  # left by ``normalise_entries``
    if "record_ref" not in present and prefix is not None:
        staging.stage_record_ref_prefix(conn, prefix.decode())
    conn.engine.stage_arrow(conn, table, present, _STAGE_ARROW_COLUMNS, staging.STAGE_RAW_DDL, copy=copy)


def unstage(conn: Connection) -> None:
    """Undo what staging a batch left besides the staging tables."""
    conn.engine.unstage_arrow(conn)


def stage(conn: Connection, batch: pa.Table | ParquetSource, *, copy: bool = False) -> None:
    """Make ``batch`` the ``stage_raw`` relation: an Arrow table, or a Parquet file that the engine reads
    itself where it can (always a copy into the temporary table), else read into Arrow first. ``copy``: see
    ``StoreEngine.stage_arrow`` (outside a transaction only)."""
    if isinstance(batch, ParquetSource):
        if conn.engine.stage_parquet(conn, batch.path, batch.sql):
            staging.stage_record_ref_prefix(conn, batch.record_ref_prefix)
            return
        batch = read_entries_file(batch.path)
    _stage_arrow(conn, batch, copy=copy)


@contextmanager
def unstaging(conn: Connection) -> Iterator[None]:
    """``unstage`` once the block is done, however it ends."""
    try:
        yield
    except BaseException:
        try:  # on an aborted transaction this fails too; the original error is the one to report
            unstage(conn)
        except Exception:  # noqa: BLE001
            pass
        raise
    unstage(conn)


def numbered(table: pa.Table) -> pa.Table:
    """``table`` with valid lines: normalised first (``batch_input.normalise_entries``) when it has no
    ``line`` column, else its lines checked."""
    if "line" not in table.column_names:
        return normalise_entries(table)
    _check_lines(table.column("line"))
    return table


MAX_LINE = 2**32 - 1  # a line is the counter of its row's id (``ids.py``)


def _check_lines(lines: pa.ChunkedArray) -> None:
    """A caller's own ``line`` column must number the rows uniquely within 0 .. ``MAX_LINE``: lines locate
    rows in errors and quarantine, and number the new ids. A programming error otherwise, not bad input.

    Checked with NumPy on a copy of 8 bytes a row (a sort only when the lines are not already increasing):
    Arrow's ``count_distinct`` built a hash table that kept ~400 MB of a million-transaction post's peak RSS.
    """
    if len(lines) == 0:
        return
    if lines.null_count:
        raise ValueError(f"batch lines must be integers in 0..{MAX_LINE} ({lines.null_count} null)")
    values = lines.to_numpy()
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > MAX_LINE:
        raise ValueError(f"batch lines must be integers in 0..{MAX_LINE} (got {low}..{high})")
    if not (np.diff(values) > 0).all() and not (np.diff(np.sort(values)) > 0).all():
        raise ValueError("batch lines must be unique: each one locates a row and numbers its id")
