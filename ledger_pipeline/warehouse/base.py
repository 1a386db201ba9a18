"""The interface every destination implements, and what they share (fault points, SQL helpers).

A destination ``write`` stages one table's changed rows in its bulk format and merges them by primary key,
recording the new position in ``_ledger_sync_state`` in the same transaction where the destination
allows it. A write that dies before its commit leaves the destination as it was; the next sync re-reads
the same changes (its position did not move) and merging by primary key makes the retry exact.
"""

from __future__ import annotations

import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ledger_pipeline.ledger.store import quote_identifier
from ledger_pipeline.warehouse.config import TargetConfig
from ledger_pipeline.warehouse.tables import SQL_TYPES, STATE_COLUMNS, ExportTable, descriptions, sql_string

ENV_FAULT = "LEDGER_WAREHOUSE_FAULT"


class SimulatedCrash(BaseException):
    """Raised at a fault point when ``LEDGER_WAREHOUSE_FAULT_ACTION=raise`` (in-process fault tests)."""


class DestinationUnavailable(RuntimeError):
    """The destination could not be reached, after retries."""


def fault_point(name: str, table: str) -> None:
    """Failure injection for the fault tests: ``LEDGER_WAREHOUSE_FAULT=after_stage`` (or ``during_merge``,
    optionally ``TABLE:POINT``) kills this process with SIGKILL at that point, like a crash or an OOM kill
    (``LEDGER_WAREHOUSE_FAULT_ACTION=raise``: raises ``SimulatedCrash`` instead, for in-process tests)."""
    wanted = os.environ.get(ENV_FAULT)
    if not wanted:
        return
    point = wanted.split(":")[-1]
    only_table = wanted.split(":")[0] if ":" in wanted else None
    if point == name and (only_table is None or only_table == table):
        if os.environ.get("LEDGER_WAREHOUSE_FAULT_ACTION") == "raise":
            raise SimulatedCrash(f"{name} in {table}")
        os.kill(os.getpid(), signal.SIGKILL)


class Destination(ABC):
    """One warehouse. ``open`` connects (raising a transient error when down), ``close`` disconnects."""

    dialect: str = ""
    #: True when the destination consumes a stream of record batches (``write_stream``), so reading the
    #: store and loading the destination overlap; others get the whole change set as one table (``write``)
    streams: bool = False
    #: exception types meaning "down or unreachable, try again later"
    transient_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def __init__(self, config: TargetConfig):
        self.config = config

    # -- lifecycle
    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where this destination is, for messages (never a secret)."""

    # -- state and tables
    @abstractmethod
    def positions(self) -> dict[str, int]:
        """Create the state table if missing; the acknowledged position of every table."""

    @abstractmethod
    def ensure_table(self, table: ExportTable) -> None:
        """Create the table if missing and add the registry's columns it lacks."""

    @abstractmethod
    def write(self, table: ExportTable, data: pa.Table, position: int) -> None:
        """Stage ``data``, merge it by primary key and record ``position``, atomically where possible."""

    def write_stream(self, table: ExportTable, batches: pa.RecordBatchReader, position: int) -> int:
        """Like ``write`` for a stream of batches; records the position even when the stream is empty.
        Returns the number of rows merged."""
        raise NotImplementedError

    @abstractmethod
    def record_position(self, table: ExportTable, position: int) -> None:
        """Move the acknowledged position without data (nothing changed in the window)."""

    @abstractmethod
    def fetch_rows(self, table_name: str) -> list[dict]:
        """Every row of a destination table, keys lower-case (verification: tests, contract checks)."""

    # -- shared SQL helpers
    def q(self, name: str) -> str:
        return quote_identifier(name)

    def column_type(self, kind: str) -> str:
        return SQL_TYPES[self.dialect][kind]

    def column_defs(self, columns: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"{self.q(name)} {self.column_type(kind)}" for name, kind in columns)

    def create_table_sql(self, table: ExportTable, qualified: str, primary_key: bool = True) -> str:
        pk = f", PRIMARY KEY ({', '.join(self.q(c) for c in table.primary_key)})" if primary_key else ""
        return f"CREATE TABLE IF NOT EXISTS {qualified} ({self.column_defs(table.all_columns)}{pk})"

    def state_table_sql(self, qualified: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {qualified} ({self.column_defs(STATE_COLUMNS)}, PRIMARY KEY (table_name))"

    def merge_sql(self, table: ExportTable, target: str, stage: str) -> str:
        """A standard ``MERGE`` (Redshift, BigQuery, Snowflake, PostgreSQL 15+)."""
        cols = table.column_names
        on = " AND ".join(f"t.{self.q(c)} = s.{self.q(c)}" for c in table.primary_key)
        updates = ", ".join(f"{self.q(c)} = s.{self.q(c)}" for c in cols if c not in table.primary_key)
        return (
            f"MERGE INTO {target} t USING {stage} s ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(self.q(c) for c in cols)}) "
            f"VALUES ({', '.join('s.' + self.q(c) for c in cols)})"
        )

    def comment_sql(self, table_name: str, columns: Sequence[tuple[str, str]], qualified: str,
                    existing: dict[str | None, str | None] | None = None) -> list[str]:
        """``COMMENT ON`` statements giving a table and its columns the registry's descriptions, for those
        whose current comment (``existing``: column name, ``None`` for the table) differs."""
        existing = existing or {}
        table_text, column_texts = descriptions(table_name, tuple(columns))
        statements = []
        if existing.get(None) != table_text:
            statements.append(f"COMMENT ON TABLE {qualified} IS {sql_string(table_text)}")
        for name, text in column_texts.items():
            if existing.get(name) != text:
                statements.append(f"COMMENT ON COLUMN {qualified}.{self.q(name)} IS {sql_string(text)}")
        return statements

    def text_json_columns(self, table: ExportTable, types: dict[str, str]) -> list[str]:
        """Columns of logical type ``json`` that an older sync created as text (``types``: column -> the
        destination's type name), where this destination has a JSON type: to be converted in place."""
        wanted = self.column_type("json").lower()
        return [name for name, kind in table.all_columns
                if kind == "json" and wanted in ("json", "jsonb")
                and (types.get(name) or "").lower() in ("text", "varchar", "character varying")]

    def missing_columns(self, table: ExportTable, existing: set[str]) -> list[tuple[str, str]]:
        existing = {c.lower() for c in existing}
        return [(n, k) for n, k in table.all_columns if n.lower() not in existing]


def rows_as_dicts(cursor: Any) -> list[dict]:
    """The rows of an executed DB-API cursor, keyed by lower-case column name."""
    names = [d[0].lower() for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class SchemaDestination(Destination):
    """A SQL destination reached through one DB-API connection (``conn``), its tables in ``schema``."""

    conn: Any = None
    schema: str = ""

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _name(self, table: str) -> str:
        return f"{self.q(self.schema)}.{self.q(table)}"

    def fetch_rows(self, table_name: str) -> list[dict]:
        """Every row of a destination table (for verification: tests, contract checks)."""
        cur = self.conn.cursor()
        try:
            cur.execute(f"SELECT * FROM {self._name(table_name)}")
            return rows_as_dicts(cur)
        finally:
            cur.close()
