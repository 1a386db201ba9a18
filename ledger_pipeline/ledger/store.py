"""One store URL, two engines: an embedded DuckDB file (the default) or PostgreSQL (production).

SQL in this package is written once with ``:name`` placeholders and converted to each driver's style,
so rules and posting run the same statements on both engines. Connections are opened and closed inside
each step (DuckDB allows one writing process per file).

URLs: ``duckdb:///path/to/file.duckdb`` (or a bare path ending in ``.duckdb``), ``duckdb:///:memory:``,
``postgresql://user@host:port/db`` (``postgres://`` and ``postgresql+psycopg://`` are accepted too).
"""

from __future__ import annotations

import functools
import io
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.csv as pacsv

from ledger_pipeline import paths

ENV_STORE_URL = "LEDGER_STORE_URL"
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def default_store_url() -> str:
    return os.environ.get(ENV_STORE_URL) or f"duckdb:///{paths.DEFAULT_STORE_PATH}"


def quote_identifier(name: str) -> str:
    """Quote an identifier that came from code or configuration, refusing anything unusual."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return f'"{name}"'


@dataclass(frozen=True)
class StoreUrl:
    dialect: str  # "duckdb" | "postgresql"
    target: str  # DuckDB file path (or ":memory:") / libpq conninfo URL

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        if url.startswith("duckdb:///"):
            # SQLAlchemy's convention: duckdb:///relative.duckdb, duckdb:////absolute/path.duckdb
            return cls("duckdb", url[len("duckdb:///") :] or ":memory:")
        if url.endswith(".duckdb") and "://" not in url:
            return cls("duckdb", url)
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return cls("postgresql", "postgresql://" + url[len(prefix) :])

        raise ValueError(f"unsupported store URL {url!r}: use duckdb:///path or postgresql://host/db")


@functools.lru_cache(maxsize=1024)  # the same few statements run again and again (every single write)
def _to_duckdb_params(sql: str) -> str:
    return _PARAM.sub(r"$\1", sql)


@functools.lru_cache(maxsize=1024)
def _to_psycopg_params(sql: str) -> str:
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


@dataclass(frozen=True)
class ChangeMark:
    """A change position taken by a connection, and how many that connection had taken by then."""

    position: int
    taken: int


class Connection:
    """A thin wrapper that gives both drivers the same small API."""

    def __init__(self, dialect: str, raw: Any):
        self.dialect = dialect
        self.raw = raw
        self.staging_preserved: bool | None = None  # see staging.reset_staging: None until created
        self.staging_writes = 0
        self.change_seqs_taken = 0  # DuckDB: change positions this connection took (see change_mark)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def _convert(self, sql: str, params: Mapping[str, Any] | None) -> str:
        if not params:
            return sql
        return _to_psycopg_params(sql) if self.is_postgres else _to_duckdb_params(sql)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One database transaction on this (autocommit) connection: committed on success, rolled back on
        error. Taking the store's write lock, where needed, is the caller's business (``Store.transaction``)."""
        if self.is_postgres:
            with self.raw.transaction():
                yield
            return
        self.raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; returns the affected row count where the driver reports it."""
        if self.is_postgres:
            with self.raw.cursor() as cur:
                cur.execute(self._convert(sql, params), params or None)
                return cur.rowcount
        result = self.raw.execute(self._convert(sql, params), dict(params) if params else None)
        if result.description and result.description[0][0] == "Count":
            row = result.fetchone()
            return int(row[0]) if row else 0
        return -1

    def execute_script(self, sql: str) -> None:
        """Run several ``;``-separated statements without parameters (DDL)."""
        statements = [s.strip() for s in sql.split(";") if s.strip()]
        for statement in statements:
            self.execute(statement)

    def all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        if self.is_postgres:
            with self.raw.cursor() as cur:
                cur.execute(self._convert(sql, params), params or None)
                return cur.fetchall()
        return self.raw.execute(self._convert(sql, params), dict(params) if params else None).fetchall()

    def dicts(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        if self.is_postgres:
            with self.raw.cursor() as cur:
                cur.execute(self._convert(sql, params), params or None)
                names = [d.name for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        result = self.raw.execute(self._convert(sql, params), dict(params) if params else None)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        row = self.one(sql, params)
        return row[0] if row else None

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """A query's result as an Arrow table (columnar on DuckDB; built from rows on PostgreSQL)."""
        if not self.is_postgres:
            result = self.raw.execute(self._convert(sql, params), dict(params) if params else None)
            return result.to_arrow_table()
        with self.raw.cursor() as cur:
            cur.execute(self._convert(sql, params), params or None)
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        return pa.table({name: list(col) for name, col in zip(names, columns, strict=True)})

    def load_arrow(self, table_name: str, data: pa.Table, columns_sql: str) -> None:
        """Create temporary table ``table_name`` (``columns_sql`` is its column list) and bulk-load ``data``.

        DuckDB scans the Arrow table in place; PostgreSQL gets it through ``COPY ... FROM STDIN`` as CSV
        written by Arrow, so neither engine sees a Python loop per row.
        """
        name = quote_identifier(table_name)
        self.execute(f"DROP TABLE IF EXISTS {name}")
        self.execute(f"CREATE TEMPORARY TABLE {name} ({columns_sql})")
        if data.num_rows == 0:
            return
        column_list = ", ".join(quote_identifier(c) for c in data.column_names)
        if not self.is_postgres:
            self.raw.register("_arrow_in", data)
            try:
                self.raw.execute(f"INSERT INTO {name} ({column_list}) SELECT {column_list} FROM _arrow_in")
            finally:
                self.raw.unregister("_arrow_in")
            return
        copy_sql = f"COPY {name} ({column_list}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        with self.raw.cursor() as cur, cur.copy(copy_sql) as copy:
            for i, batch in enumerate(data.to_batches(max_chunksize=200_000)):
                buffer = io.BytesIO()  # the header once: a multi-chunk table must not repeat it as data
                pacsv.write_csv(pa.Table.from_batches([batch]), buffer,
                                write_options=pacsv.WriteOptions(include_header=i == 0))
                copy.write(buffer.getvalue())

    @contextmanager
    def arrow_relation(self, name: str, data: pa.Table, columns_sql: str) -> Iterator[None]:
        """``data`` readable as ``name`` inside the block, gone after it: on DuckDB the Arrow table itself,
        scanned in place in ``in_scan_batches`` (no copy), on PostgreSQL a temporary table (``load_arrow``;
        ``columns_sql`` is its column list)."""
        if self.is_postgres:
            self.load_arrow(name, data, columns_sql)
        else:
            self.raw.register(name, in_scan_batches(data))
        try:
            yield
        finally:
            if self.is_postgres:
                self.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")
            else:
                self.raw.unregister(name)

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """PostgreSQL: send the block's statements without waiting for each one's result (psycopg's pipeline
        mode; a fetch, or the end of the block, waits for all of them and raises the first error). Only for
        statements whose row counts are not read: ``execute`` cannot report them here. DuckDB: no effect."""
        if self.is_postgres and not self.raw.pgconn.pipeline_status:  # not nested in a pipeline already
            with self.raw.pipeline():
                yield
        else:
            yield

    @contextmanager
    def unordered_appends(self) -> Iterator[None]:
        """DuckDB: inside the block, an ``INSERT ... SELECT`` may append its rows in any order, so that it
        writes on every core (``preserve_insertion_order = false``); the setting is restored afterwards.
        Only for tables whose rows nothing reads by their physical order (every reader names its order).
        PostgreSQL: no effect (it never promises an order)."""
        if self.is_postgres:
            yield
            return
        previous = self.scalar("SELECT current_setting('preserve_insertion_order')")
        self.raw.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            self.raw.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")

    def change_seq(self) -> int:
        """The change position of the current write, recorded in every row it writes.

        PostgreSQL: the writing transaction's id, so a reader can tell from its snapshot which positions
        are certainly committed (see :meth:`safe_change_watermark`). DuckDB: a sequence (one writer).
        """
        if self.is_postgres:
            return int(self.scalar("SELECT CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)"))
        self.change_seqs_taken += 1
        return int(self.scalar("SELECT nextval('ledger_change_seq')"))

    def change_mark(self) -> ChangeMark:
        """DuckDB: take a change position, to tell later whether any other connection wrote since
        (:meth:`only_own_changes_since`)."""
        return ChangeMark(self.change_seq(), self.change_seqs_taken)

    def only_own_changes_since(self, mark: ChangeMark, seq: int) -> bool:
        """DuckDB: given ``seq``, a position this connection has just taken, whether every change position
        handed out since ``mark`` was taken by this connection, so no other one wrote the ledger since (every
        write of the ledger's tables takes a position). DuckDB's sequences are not transactional: a position
        once handed out is never handed out again, whether its transaction commits or not. (Its
        ``last_value`` cannot serve for this: after a reopen it shows the next value, not the last one.)"""
        return seq - mark.position == self.change_seqs_taken - mark.taken

    def safe_change_watermark(self) -> int:
        """Every write with ``change_seq`` below this value is committed and visible to this connection."""
        if self.is_postgres:
            return int(self.scalar("SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)"))
        # duckdb_sequences().last_value is the last value handed out by this database instance, but after the
        # file is reopened it reports the *next* value: last_value + 1 would then be one too high and the next
        # write would fall behind a sync's acknowledged position. Capping it by 1 + the highest change_seq
        # visible in any table makes it exact, or lower (never higher), which only delays a row to the next sync.
        last = self.scalar(
            "SELECT last_value FROM duckdb_sequences() WHERE sequence_name = 'ledger_change_seq'"
        )
        tables = [r[0] for r in self.all(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'change_seq' "
            "AND table_schema = current_schema() AND table_catalog = current_database()")]
        if not tables:
            return int(last or 0) + 1
        highest = self.scalar("SELECT max(m) FROM (" + " UNION ALL ".join(
            f"SELECT max(change_seq) AS m FROM {quote_identifier(t)}" for t in tables) + ") u")
        return min(int(last or 0) + 1, int(highest or 0) + 1)


class Store:
    """Where the ledger lives. Cheap to create; opens a connection per unit of work."""

    def __init__(self, url: str | None = None):
        self.url = url or default_store_url()
        parsed = StoreUrl.parse(self.url)
        self.dialect = parsed.dialect
        self.target = parsed.target

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def __repr__(self) -> str:
        return f"Store({self.redacted_url!r})"

    @property
    def redacted_url(self) -> str:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    def _postgres_conninfo(self) -> tuple[str, str]:
        """Split off ``?schema=NAME`` (the ledger's own schema, set as search_path) from the libpq URL."""
        parts = urlsplit(self.target)
        query = parse_qsl(parts.query)
        schema = next((v for k, v in query if k == "schema"), None)
        options = "-c TimeZone=UTC"
        if schema:
            options += f" -c search_path={quote_identifier(schema).strip(chr(34))}"
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        return urlunsplit(parts._replace(query=rest)), options

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Connection]:
        if self.is_postgres:
            import psycopg

            conninfo, options = self._postgres_conninfo()
            raw = psycopg.connect(conninfo, autocommit=True, options=options)
            try:
                yield Connection(self.dialect, raw)
            finally:
                raw.close()
            return
        import duckdb

        if self.target != ":memory:":
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        raw = duckdb.connect(self.target, read_only=read_only and Path(self.target).exists())
        try:
            raw.execute("SET TimeZone = 'UTC'")
            yield Connection(self.dialect, raw)
        finally:
            raw.close()

    def write_lock(self) -> AbstractContextManager:
        """One writing transaction at a time per DuckDB file within this process (a re-entrant lock).

        DuckDB lets one process write a file; inside it, concurrent transactions that update the same rows
        conflict (and are retried), but appends never conflict, so without this lock two threads could both
        insert one ``external_id`` (DuckDB tables carry no unique index, see ``schema.py``). It also lets a
        bulk post stage a batch in a transaction of its own before the writing one (``posting.post_batch``):
        every write of this package to a DuckDB file holds it (``transaction``, ``posting.open_writer``).
        PostgreSQL needs no lock here: it has row locks and unique indexes; an in-memory DuckDB is private
        to its connection.
        """
        if self.is_postgres or self.target == ":memory:":
            return nullcontext()
        key = os.path.realpath(self.target)
        with _WRITE_LOCKS_GUARD:
            return _WRITE_LOCKS.setdefault(key, threading.RLock())

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one database transaction: committed on success, rolled back on error. On a
        DuckDB file it holds ``write_lock`` until then."""
        with self.write_lock(), self.connect() as conn, conn.transaction():
            yield conn


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


ARROW_SCAN_BATCH_ROWS = 64 * 1024


def in_scan_batches(table: pa.Table, rows: int = ARROW_SCAN_BATCH_ROWS) -> pa.Table:
    """``table`` as record batches of at most ``rows`` rows (zero-copy slices), for registering with DuckDB,
    which scans an Arrow table one batch per thread: a table built or fetched as one big batch (a parser's
    or a mapping's output, a query result) was otherwise read on one core."""
    if table.num_rows <= rows or all(len(b) <= rows for b in table.to_batches()):
        return table
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), table.schema)


def params_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``IN (...)`` support: returns ``":p0, :p1"`` and the matching parameter dict."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))
