"""Reading what changed from the ledger store, as Arrow tables in the destination's column order.

All tables of one sync are read inside one snapshot of the store, together with its safe watermark
(``Connection.safe_change_watermark``), so the window ``position <= change_seq < watermark`` holds only
committed writes and the tables agree with each other. The catalog is read once per sync
(``existing_tables``), through each engine's own catalog rather than ``information_schema``, whose views
cost DuckDB tens of milliseconds per query: this module sits on the hot path of a sync every few minutes. How
the rows come over is the engine's business (``StoreEngine.read_arrow_batches``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pyarrow as pa

from ledger_pipeline.ledger.store import Connection, Store, quote_identifier
from ledger_pipeline.warehouse.tables import EXPORT_TABLES, ExportTable


@contextmanager
def snapshot(store: Store) -> Iterator[tuple[Connection, int]]:
    """A read-only connection on one consistent snapshot of the store, and that snapshot's watermark
    (``export_watermark``)."""
    with store.connect(read_only=True) as conn, conn.snapshot():
        yield conn, export_watermark(conn)


def export_watermark(conn: Connection) -> int:
    """The store's safe change watermark (``Connection.safe_change_watermark``), capped over the exported
    tables only: a lower or equal cap, so still safe, that holds back no exported row."""
    return conn.safe_change_watermark(t.source_table for t in EXPORT_TABLES)


def existing_tables(conn: Connection) -> set[str]:
    """Names of the store's tables in its current schema (one catalog query per sync)."""
    return {r[0] for r in conn.all(conn.engine.existing_tables_sql())}


def table_exists(conn: Connection, name: str) -> bool:
    return name in existing_tables(conn)


def _source_sql(table: ExportTable, conn: Connection, low: int, high: int) -> str:
    cols = ", ".join(quote_identifier(c) for c, _ in table.columns)
    source = table.source or quote_identifier(table.name)
    raw_json = conn.engine.row_json("q")
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
    source = conn.engine.read_arrow_batches(conn, sql, without_synced, BATCH_ROWS)
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
