"""Reading what changed from the ledger store, as Arrow tables in the destination's column order.

All tables of one sync are read inside one snapshot of the store, together with its safe watermark
(``Connection.safe_change_watermark``'s rule), so the window ``position <= change_seq < watermark`` holds only
committed writes and the tables agree with each other. The catalog is read once per sync
(``existing_tables``), through each engine's own catalog rather than ``information_schema``, whose views
cost DuckDB tens of milliseconds per query: this module sits on the hot path of a sync every few minutes. DuckDB hands Arrow over directly; PostgreSQL
streams ``COPY (query) TO STDOUT`` as CSV that Arrow parses with the exact column types (no row loop).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pyarrow as pa
import pyarrow.csv as pacsv

from ledger_pipeline.ledger.store import Connection, Store, quote_identifier
from ledger_pipeline.warehouse.tables import EXPORT_TABLES, ExportTable


@contextmanager
def snapshot(store: Store) -> Iterator[tuple[Connection, int]]:
    """A read-only connection on one consistent snapshot of the store, and that snapshot's watermark."""
    with store.connect(read_only=True) as conn:
        if conn.is_postgres:
            conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            conn.raw.execute("BEGIN TRANSACTION")
        try:
            yield conn, conn.safe_change_watermark() if conn.is_postgres else _duckdb_watermark(conn)
        finally:
            conn.raw.execute("ROLLBACK")


def _duckdb_watermark(conn: Connection) -> int:
    """``Connection.safe_change_watermark``'s rule on DuckDB (the sequence's ``last_value`` + 1, capped by
    1 + the highest ``change_seq`` visible, so exact or lower, never higher), with the cap taken over the
    exported tables only. The core lists every table with a ``change_seq`` column through
    ``information_schema.columns`` (``duckdb_columns()`` is no better): 40-170 ms of a 0.5 s incremental
    sync on a fresh connection. A cap over fewer tables is lower or equal, so still safe, and it holds back
    no exported row: each one's ``change_seq`` is at most the highest among the exported tables."""
    last = conn.scalar("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = 'ledger_change_seq'")
    in_store = existing_tables(conn)
    tables = sorted({t.source_table for t in EXPORT_TABLES if t.source_table in in_store})
    if not tables:
        return int(last or 0) + 1
    highest = conn.scalar("SELECT max(m) FROM (" + " UNION ALL ".join(
        f"SELECT max(change_seq) AS m FROM {quote_identifier(t)}" for t in tables) + ") u")
    return min(int(last or 0) + 1, int(highest or 0) + 1)


def existing_tables(conn: Connection) -> set[str]:
    """Names of the store's tables in its current schema (one catalog query per sync)."""
    if conn.is_postgres:
        sql = "SELECT c.relname FROM pg_class c WHERE c.relnamespace = CAST(current_schema() AS regnamespace) " \
              "AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    else:
        sql = "SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema() " \
              "AND database_name = current_database() UNION ALL " \
              "SELECT view_name FROM duckdb_views() WHERE schema_name = current_schema() " \
              "AND database_name = current_database()"
    return {r[0] for r in conn.all(sql)}


def table_exists(conn: Connection, name: str) -> bool:
    return name in existing_tables(conn)


def _source_sql(table: ExportTable, conn: Connection, low: int, high: int) -> str:
    cols = ", ".join(quote_identifier(c) for c, _ in table.columns)
    source = table.source or quote_identifier(table.name)
    raw_json = "CAST(row_to_json(q) AS TEXT)" if conn.is_postgres else "CAST(to_json(q) AS VARCHAR)"
    # low/high are ints from the engine (never user text); inlined because COPY takes no parameters.
    return (
        f"SELECT {cols}, {raw_json} AS raw_json, q.change_seq AS _version FROM ("
        f"SELECT {cols}, change_seq FROM {source} s "
        f"WHERE change_seq >= {int(low)} AND change_seq < {int(high)}) q"
    )


BATCH_ROWS = 100_000


def read_changes_stream(conn: Connection, table: ExportTable, low: int, high: int,
                        synced_at: datetime) -> pa.RecordBatchReader:
    """Rows of ``table`` with ``low <= change_seq < high`` as a stream of record batches, typed as the
    destination schema says. On DuckDB the query runs while the destination consumes earlier batches."""
    schema = table.arrow_schema()
    without_synced = pa.schema([f for f in schema if f.name != "_synced_at"])
    sql = _source_sql(table, conn, low, high)
    if conn.is_postgres:
        buffer = io.BytesIO()
        with conn.raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        buffer.seek(0)
        data = pacsv.read_csv(
            buffer,
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in without_synced},
                strings_can_be_null=True, quoted_strings_can_be_null=False,
            ),
        )
        source = data.select(without_synced.names).to_batches(max_chunksize=BATCH_ROWS)
    else:
        source = conn.raw.execute(sql).to_arrow_reader(BATCH_ROWS)
    stamp = pa.scalar(synced_at, type=schema.field("_synced_at").type)

    def batches():
        for batch in source:
            if batch.num_rows == 0:
                continue
            typed = pa.Table.from_batches([batch]).cast(without_synced)
            columns = [*typed.columns, pa.repeat(stamp, typed.num_rows)]
            yield from pa.Table.from_arrays(columns, schema=schema).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


def read_changes(conn: Connection, table: ExportTable, low: int, high: int, synced_at: datetime) -> pa.Table:
    """Rows of ``table`` with ``low <= change_seq < high``, typed as the destination schema says."""
    return read_changes_stream(conn, table, low, high, synced_at).read_all()
