"""PostgreSQL destination: ``COPY`` (CSV written by Arrow) into a temporary table, then
``INSERT ... ON CONFLICT DO UPDATE`` by primary key and the new position, in one transaction.

Initial load: when the destination table is empty the rows are copied straight into it (still inside the
transaction that records the position) and its primary key is built once after the load. Concurrent syncs to the same
table serialise on a transaction-scoped advisory lock.

Incremental syncs are a hot path (every few minutes, 10,000 rows in <= 0.5 s): the destination's catalog is
read with one ``pg_attribute`` query per sync (``information_schema.columns`` cost 10-20 ms per table), DDL
runs only when something is missing, and the session's ``temp_buffers`` is raised so that a staged batch of
that size stays in memory instead of spilling the temporary table to disk.

Options: ``url`` (libpq URL; use ``${ENV}`` for the password), ``schema`` (default ``ledger``).
"""

from __future__ import annotations

import io
import itertools
from abc import abstractmethod
from collections.abc import Iterable

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg.copy import QueuedLibpqWriter

from ledger_pipeline.warehouse.base import SchemaDestination, fault_point
from ledger_pipeline.warehouse.tables import (
    STATE_COLUMNS,
    STATE_TABLE,
    ExportTable,
    descriptions,
    table_description,
)

COPY_CHUNK_ROWS = 100_000
#: local buffers of the sync's session (PostgreSQL's default is 8MB, less than 10,000 staged ledger entries);
#: allocated only as the temporary table fills, and only settable before the session's first temporary table
TEMP_BUFFERS = "64MB"


def _csv_ready(batch: pa.RecordBatch) -> pa.Table:
    """Timestamps with a time zone are written as text with an explicit ``+00`` offset: Arrow's CSV writer
    formats zoned timestamps about 25 times slower than plain text, and the offset keeps the value exact
    whatever the session's time zone."""
    table = pa.Table.from_batches([batch])
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            text = pc.binary_join_element_wise(
                pc.cast(pc.cast(table.column(i), pa.timestamp(field.type.unit)), pa.string()), "+00", "")
            table = table.set_column(i, field.name, text)
    return table


def copy_arrow(cur: psycopg.Cursor, qualified: str, columns: str, data: pa.Table | Iterable[pa.RecordBatch]) -> int:
    """Bulk-load Arrow data with ``COPY FROM STDIN`` (CSV, NULL as an unquoted empty field), batch by batch
    (so a stream is encoded while the server parses the previous batch). Returns the number of rows."""
    batches = data.to_batches(max_chunksize=COPY_CHUNK_ROWS) if isinstance(data, pa.Table) else data
    rows = 0
    # The queued writer sends from a thread of its own: reading the store and encoding the next batch overlap
    # with sending this one.
    with cur.copy(f"COPY {qualified} ({columns}) FROM STDIN WITH (FORMAT csv)", writer=QueuedLibpqWriter(cur)) as copy:
        for batch in batches:
            buffer = io.BytesIO()
            pacsv.write_csv(_csv_ready(batch), buffer, write_options=pacsv.WriteOptions(include_header=False))
            copy.write(buffer.getbuffer())
            rows += batch.num_rows
    return rows


class PsycopgDestination(SchemaDestination):
    """A destination on PostgreSQL's protocol (PostgreSQL, Redshift): a libpq ``url`` and a ``schema``
    (default ``ledger``); ``_set_position`` writes the state row on a cursor inside a transaction."""

    transient_errors = (psycopg.OperationalError, ConnectionError, TimeoutError)
    #: shown by ``describe`` when the URL names no host or port
    default_host = "localhost"
    default_port = 5432

    def __init__(self, config):
        super().__init__(config)
        self.url = str(config.option("url", required=True))
        self.schema = str(config.option("schema", "ledger"))
        self.conn: psycopg.Connection | None = None

    def describe(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        return (f"{self.dialect} {info.get('host', self.default_host)}:{info.get('port', self.default_port)}/"
                f"{info.get('dbname', '')}, schema {self.schema}")

    @abstractmethod
    def _set_position(self, cur: psycopg.Cursor, table: ExportTable, position: int, rows: int) -> None:
        """Write ``table``'s state row on ``cur``, inside the caller's transaction."""

    def record_position(self, table: ExportTable, position: int) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._set_position(cur, table, position, 0)


class PostgresDestination(PsycopgDestination):
    dialect = "postgres"

    def __init__(self, config):
        super().__init__(config)
        self.connect_timeout = int(config.option("connect_timeout", 10))
        self._columns: dict[str, set[str]] = {}  # this schema's tables and their columns, read at open
        self._comments: dict[str, dict[str | None, str | None]] = {}  # and their comments (None: the table's)
        self._types: dict[str, dict[str, str]] = {}  # and their types

    def open(self) -> None:
        self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout,
                                    options=f"-c TimeZone=UTC -c temp_buffers={TEMP_BUFFERS}")
        self._columns = {}
        self._comments = {}
        self._types = {}
        for table_name, column_name, column_type, column_comment, table_comment in self.conn.execute(
                "SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, NULL), "
                "pg_catalog.col_description(c.oid, a.attnum), "
                "pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')", (self.schema,)).fetchall():
            self._columns.setdefault(table_name, set()).add(column_name)
            self._types.setdefault(table_name, {})[column_name] = column_type
            comments = self._comments.setdefault(table_name, {None: table_comment})
            comments[column_name] = column_comment
        if STATE_TABLE not in self._columns:  # a new schema (or one this sync has not written yet)
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(self.schema)}")

    def positions(self) -> dict[str, int]:
        if STATE_TABLE not in self._columns:
            self.conn.execute(self.state_table_sql(self._name(STATE_TABLE)))
            self._columns[STATE_TABLE] = {name for name, _ in STATE_COLUMNS}
        self._comment(STATE_TABLE, STATE_COLUMNS)
        rows = self.conn.execute(f"SELECT table_name, position FROM {self._name(STATE_TABLE)}").fetchall()
        return {name: int(position) for name, position in rows}

    def ensure_table(self, table: ExportTable) -> None:
        if table.name not in self._columns:  # IF NOT EXISTS: another sync may have created it since open
            self.conn.execute(self.create_table_sql(table, self._name(table.name)))
            self._columns[table.name] = {name for name, _ in table.all_columns}
        for name, kind in self.missing_columns(table, self._columns[table.name]):
            self.conn.execute(
                f"ALTER TABLE {self._name(table.name)} ADD COLUMN IF NOT EXISTS {self.q(name)} {self.column_type(kind)}")
            self._columns[table.name].add(name)
        for name in self.text_json_columns(table, self._types.get(table.name, {})):
            self.conn.execute(f"ALTER TABLE {self._name(table.name)} ALTER COLUMN {self.q(name)} TYPE jsonb "
                              f"USING CAST({self.q(name)} AS jsonb)")
            self._types[table.name][name] = "jsonb"
        self._comment(table.name, table.all_columns)

    def _comment(self, table_name: str, columns) -> None:
        """Set the registry's comments where the catalog read at open shows another (DDL only then)."""
        existing = self._comments.setdefault(table_name, {})
        statements = self.comment_sql(table_name, columns, self._name(table_name), existing)
        if statements:
            self.conn.execute("; ".join(statements))
            _, texts = descriptions(table_name, tuple(columns))
            existing.update(texts)
            existing[None] = table_description(table_name)

    def _set_position(self, cur: psycopg.Cursor, table: ExportTable, position: int, rows: int) -> None:
        cur.execute(
            f"INSERT INTO {self._name(STATE_TABLE)} (table_name, position, rows_last_sync, synced_at) "
            "VALUES (%s, %s, %s, now()) ON CONFLICT (table_name) DO UPDATE SET position = excluded.position, "
            "rows_last_sync = excluded.rows_last_sync, synced_at = excluded.synced_at",
            (table.name, position, rows))

    streams = True

    def write(self, table: ExportTable, data: pa.Table, position: int) -> None:
        self.write_stream(table, pa.RecordBatchReader.from_batches(data.schema, data.to_batches()), position)

    def write_stream(self, table: ExportTable, batches: pa.RecordBatchReader, position: int) -> int:
        stream = iter(batches)
        first = next(stream, None)
        if first is None:
            self.record_position(table, position)
            return 0
        batches_in = itertools.chain([first], stream)
        target = self._name(table.name)
        cols = ", ".join(self.q(c) for c in table.column_names)
        with self.conn.transaction(), self.conn.cursor() as cur:
            # The rows and the position commit together, so an asynchronous commit lost in a server crash
            # loses both and the next sync sends them again: exactly once holds without waiting for the flush.
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.{table.name}",))
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM {target})")
            if not cur.fetchone()[0]:
                rows = self._initial_load(cur, table, target, cols, batches_in)
                fault_point("after_stage", table.name)
                fault_point("during_merge", table.name)
            else:
                stage = self.q(f"_stage_{table.name}")
                cur.execute(f"CREATE TEMPORARY TABLE {stage} ({self.column_defs(table.all_columns)}) ON COMMIT DROP")
                rows = copy_arrow(cur, stage, cols, batches_in)
                fault_point("after_stage", table.name)
                pk = ", ".join(self.q(c) for c in table.primary_key)
                updates = ", ".join(f"{self.q(c)} = excluded.{self.q(c)}" for c in table.column_names
                                    if c not in table.primary_key)
                cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
                            f"ON CONFLICT ({pk}) DO UPDATE SET {updates}")
                fault_point("during_merge", table.name)
            self._set_position(cur, table, position, rows)
        return rows

    def _initial_load(self, cur: psycopg.Cursor, table: ExportTable, target: str, cols: str, batches) -> int:
        """Into an empty table: COPY straight in, with the primary key dropped during the load and built
        once afterwards (one sort instead of a B-tree insert per row, as pg_restore does). All inside the
        sync's transaction: a crash leaves the table empty and keyed as before."""
        cur.execute("SELECT conname FROM pg_constraint WHERE conrelid = CAST(%s AS regclass) AND contype = 'p'",
                    (target,))
        found = cur.fetchone()
        if found:
            cur.execute(f"ALTER TABLE {target} DROP CONSTRAINT {self.q(found[0])}")
        rows = copy_arrow(cur, target, cols, batches)
        cur.execute(f"ALTER TABLE {target} ADD PRIMARY KEY ({', '.join(self.q(c) for c in table.primary_key)})")
        return rows

