"""One store URL, two engines: an embedded DuckDB file (the default) or PostgreSQL (production).

SQL in this package is written once with ``:name`` placeholders and converted to each driver's style,
so rules and posting run the same statements on both engines. Connections are opened and closed inside
each step (DuckDB allows one writing process per file). Whatever differs between the engines is the
business of the store's engine (``engines``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pyarrow as pa

from ledger_pipeline import paths
from ledger_pipeline.ledger.engines import StoreEngine, engine_for, in_scan_batches
from ledger_pipeline.ledger.engines import quote_identifier as quote_identifier
from ledger_pipeline.ledger.engines.base import EngineBound

__all__ = ["Connection", "Store", "default_store_url", "in_scan_batches", "params_list",
           "quote_identifier"]

ENV_STORE_URL = "LEDGER_STORE_URL"


def default_store_url() -> str:
    return os.environ.get(ENV_STORE_URL) or f"duckdb:///{paths.DEFAULT_STORE_PATH}"


class Connection(EngineBound):
    """A thin wrapper that gives both drivers the same small API; its engine does the work."""

    def __init__(self, engine: StoreEngine, raw: Any):
        self.engine = engine
        self.raw = raw
        self.staging_preserved: bool | None = None  # see staging.reset_staging: None until created
        self.staging_writes = 0
        self.change_seqs_taken = 0  # change positions this connection took (see DuckDBEngine.change_mark)

    def transaction(self) -> AbstractContextManager[None]:
        """One database transaction on this (autocommit) connection: committed on success, rolled back on
        error. Taking the store's write lock, where needed, is the caller's business (``Store.transaction``)."""
        return self.engine.transaction(self)

    def snapshot(self) -> AbstractContextManager[None]:
        """A read-only transaction on one consistent snapshot of the store, rolled back at the end."""
        return self.engine.snapshot(self)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; returns the affected row count where the driver reports it."""
        return self.engine.execute(self, sql, params)

    def execute_counted(self, statements: Sequence[tuple[str, Mapping[str, Any] | None]]) -> list[int]:
        """Run ``statements`` in order and return each one's affected row count, in one round trip where
        the engine can (PostgreSQL)."""
        return self.engine.execute_counted(self, statements)

    def execute_script(self, sql: str) -> None:
        """Run several ``;``-separated statements without parameters (DDL)."""
        statements = [s.strip() for s in sql.split(";") if s.strip()]
        for statement in statements:
            self.execute(statement)

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.engine.fetch_all(self, sql, params)

    def dicts(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.engine.fetch_dicts(self, sql, params)

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return row[0] if row else None

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """A query's result as an Arrow table (columnar on DuckDB; built from rows on PostgreSQL)."""
        return self.engine.fetch_arrow(self, sql, params)

    def load_arrow(self, table_name: str, data: pa.Table, columns_sql: str) -> None:
        """Create temporary table ``table_name`` (``columns_sql`` is its column list) and bulk-load ``data``,
        with no Python loop per row on either engine."""
        name = quote_identifier(table_name)
        self.execute(f"DROP TABLE IF EXISTS {name}")
        self.execute(f"CREATE TEMPORARY TABLE {name} ({columns_sql})")
        if data.num_rows == 0:
            return
        self.engine.load_arrow(self, name, data, columns_sql)

    def arrow_relation(self, name: str, data: pa.Table, columns_sql: str) -> AbstractContextManager[None]:
        """``data`` readable as ``name`` inside the block, gone after it: on DuckDB the Arrow table itself,
        scanned in place (no copy), on PostgreSQL a temporary table (``load_arrow``; ``columns_sql`` is its
        column list)."""
        return self.engine.arrow_relation(self, name, data, columns_sql)

    def pipelined(self) -> AbstractContextManager[None]:
        """PostgreSQL: send the block's statements without waiting for each one's result (psycopg's pipeline
        mode; a fetch, or the end of the block, waits for all of them and raises the first error). Only for
        statements whose row counts are not read: ``execute`` cannot report them here. DuckDB: no effect."""
        return self.engine.pipelined(self)

    def unordered_appends(self) -> AbstractContextManager[None]:
        """DuckDB: inside the block, an ``INSERT ... SELECT`` may append its rows in any order, so that it
        writes on every core (``preserve_insertion_order = false``); the setting is restored afterwards.
        Only for tables whose rows nothing reads by their physical order (every reader names its order).
        PostgreSQL: no effect (it never promises an order)."""
        return self.engine.unordered_appends(self)

    def bulk_settings(self, *, batch_in_python: bool = True, rows: int | None = None) -> AbstractContextManager[None]:
        """The session's settings while a batch of ``rows`` rows posts: DuckDB on a file caps its buffer,
        PostgreSQL gives a large batch's sorts and hashes more memory and spares its statements costly JIT
        compilation (see the engines)."""
        return self.engine.bulk_settings(self, batch_in_python=batch_in_python, rows=rows)

    def change_seq(self) -> int:
        """The change position of the current write, recorded in every row it writes.

        PostgreSQL: the writing transaction's id, so a reader can tell from its snapshot which positions
        are certainly committed (see :meth:`safe_change_watermark`). DuckDB: a sequence (one writer).
        """
        return self.engine.change_seq(self)

    def safe_change_watermark(self, tables: Iterable[str] | None = None) -> int:
        """Every write with ``change_seq`` below this value is committed and visible to this connection.
        ``tables``: the tables the caller reads (by default every table with a ``change_seq`` column)."""
        return self.engine.safe_change_watermark(self, tables)


class Store(EngineBound):
    """Where the ledger lives. Cheap to create; opens a connection per unit of work."""

    def __init__(self, url: str | None = None):
        self.url = url or default_store_url()
        self.engine = engine_for(self.url)

    def __repr__(self) -> str:
        return f"Store({self.redacted_url!r})"

    @property
    def redacted_url(self) -> str:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Connection]:
        with self.engine.connect(read_only) as raw:
            yield Connection(self.engine, raw)

    def write_lock(self) -> AbstractContextManager:
        """What every write of this package to the store holds: one writing transaction at a time per DuckDB
        file within this process (a re-entrant lock); nothing on PostgreSQL (row locks and unique indexes)
        or on an in-memory DuckDB (private to its connection). See ``DuckDBEngine.write_lock``."""
        return self.engine.write_lock()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one database transaction: committed on success, rolled back on error. On a
        DuckDB file it holds ``write_lock`` until then."""
        with self.write_lock(), self.connect() as conn, conn.transaction():
            yield conn


def params_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``IN (...)`` support: returns ``":p0, :p1"`` and the matching parameter dict."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))
