"""PostgreSQL: the production engine, with row locks, unique indexes and many writers."""

from __future__ import annotations

import functools
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg.errors
import psycopg.rows
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.string import TextLoader

from ledger_pipeline.ledger.engines.base import _PARAM, StoreEngine, quote_identifier
from ledger_pipeline.ledger.errors import InputError

#: ``work_mem`` for a bulk post's session (``PostgresEngine.bulk_settings``)
POSTGRES_BULK_WORK_MEM = "512MB"
#: batches smaller than this post with the server's settings
POSTGRES_BULK_MIN_ROWS = 10_000
#: rows per CSV chunk of a ``COPY`` of an Arrow table (``PostgresEngine.load_arrow``)
_COPY_CHUNK_ROWS = 200_000
#: the settings a bulk post changes for its session
_BULK_SETTINGS = ("work_mem", "jit_inline_above_cost", "jit_optimize_above_cost")

if TYPE_CHECKING:
    from ledger_pipeline.ledger.store import Connection


@functools.lru_cache(maxsize=1024)  # the same few statements run again and again (every single write)
def _to_psycopg_params(sql: str) -> str:
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


# jsonb's text: the keys of every object sorted, one space after ':' and ','. An object with a key twice,
# at any depth, is none (jsonb would keep the last value, DuckDB reads the first): the json value has more
# nodes than the jsonb one. An object whose text has no '[' and no '{' after its first character holds no
# object or array (their brackets would be in the text), so a key twice can only be at its top level: the
# two key counts then say it, without walking the nodes (most metadata is such a flat object).
_NODES = """(WITH RECURSIVE n(v) AS (
                SELECT CAST(value AS {t})
                UNION ALL
                SELECT c.v FROM n, LATERAL (
                    SELECT e.value AS v FROM {t}_each(CASE WHEN {t}_typeof(n.v) = 'object' THEN n.v END) e
                    UNION ALL
                    SELECT a FROM {t}_array_elements(CASE WHEN {t}_typeof(n.v) = 'array' THEN n.v END) a) c)
            SELECT count(*) FROM n)"""
_METADATA_OBJECT_FUNCTION = f"""CREATE OR REPLACE FUNCTION pg_temp.ledger_metadata_object(value TEXT) RETURNS TEXT
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE doc jsonb;
    BEGIN
        doc := CAST(value AS jsonb);
        IF jsonb_typeof(doc) <> 'object' THEN
            RETURN NULL;
        END IF;
        IF strpos(substr(value, 2), '{{') = 0 AND strpos(value, '[') = 0 THEN
            IF (SELECT count(*) FROM json_object_keys(CAST(value AS json)))
               = (SELECT count(*) FROM jsonb_object_keys(doc)) THEN
                RETURN CAST(doc AS TEXT);
            END IF;
            RETURN NULL;
        END IF;
        IF {_NODES.format(t="json")} = {_NODES.format(t="jsonb")} THEN
            RETURN CAST(doc AS TEXT);
        END IF;
        RETURN NULL;
    EXCEPTION WHEN others THEN RETURN NULL;
    END $$"""


@functools.lru_cache(maxsize=4)
def _delete_all_sql(tables: tuple[str, ...]) -> str:
    """One statement that deletes every row of ``tables`` (data-modifying ``WITH`` clauses all run, read or
    not): a single write empties its staging with one statement instead of one per table."""
    *first, last = tables
    clauses = ", ".join(f"d{i} AS (DELETE FROM {name})" for i, name in enumerate(first))
    return f"WITH {clauses} DELETE FROM {last}" if first else f"DELETE FROM {last}"



def ids_as_text(raw: Any) -> None:
    """Load ``uuid`` values as their canonical text, as ids are everywhere in Python (the store keeps them
    as native UUIDs; see ``schema.Id``)."""
    raw.adapters.register_loader("uuid", TextLoader)

class PostgresEngine(StoreEngine):
    """PostgreSQL through psycopg. Writers need no lock of this process: they lock the balance rows they move
    and rely on unique indexes; a batch is staged inside its writing transaction."""

    name = "postgresql"
    is_postgres = True
    metadata_object = "pg_temp.ledger_metadata_object(metadata)"  # created with the staging tables
    projection_fence = " OFFSET 0"
    digits_to_numeric = "CAST(digits AS NUMERIC(38,0))"
    values_differ = r'CASE WHEN min(\1 COLLATE "C") <> max(\1 COLLATE "C") THEN 2 ELSE 1 END'
    sorted_entries = """string_agg(entry, ',' ORDER BY entry COLLATE "C")"""
    entries_signature_v1 = "string_agg(entry, ',' ORDER BY entry)"  # in the database's collation
    # Version 3: PostgreSQL's extended hash of each typed field (the functions hash partitioning relies on
    # across releases), combined and hashed again, so that the same amounts on other accounts make another
    # sum. No text built and no sort per entry: version 2's ordered ``string_agg`` sorted each transaction's
    # entries on their own.
    entry_value_v3 = ("hashint8extended(COALESCE(uuid_hash_extended({account_id}, 0), "
                      "hashtextextended({account_ref}, 1), 0) # COALESCE(hash_numeric_extended({amount}, 2), "
                      "hashtextextended({amount_text}, 3), 0) # COALESCE(hashtextextended({direction}, 4), 0) "
                      "# COALESCE(hashtextextended({currency}, 5), 0), 0)")
    account_keys_of_batch_only = True

    def looks_up_accounts_per_row(self, conn: Connection) -> bool:
        """On a writer's connection (``LedgerWriter``: a write or a group of at most 64): a few index
        lookups cost less than the set-based joins' plans, which scan and hash every account and balance
        row because the planner takes the never-analysed staging tables for hundreds of rows; so a single
        write's cost does not grow with the number of accounts. A bulk post keeps the joins."""
        return bool(conn.staging_preserved)

    def __init__(self, target: str, url: str):
        super().__init__(target, url)
        schema = next((v for k, v in parse_qsl(urlsplit(target).query) if k == "schema"), None)
        if schema is not None and schema != schema.lower():
            # the search_path option is unquoted, so PostgreSQL would fold it: refuse rather than use another schema
            raise ValueError(f"store URL: schema {schema!r} has upper-case letters; PostgreSQL would use "
                             f"{schema.lower()!r} instead. Use a lower-case schema name")

    def conninfo(self) -> tuple[str, str]:
        """Split off ``?schema=NAME`` (the ledger's own schema, set as search_path) from the libpq URL."""
        parts = urlsplit(self.target)
        query = parse_qsl(parts.query)
        schema = next((v for k, v in query if k == "schema"), None)
        options = "-c TimeZone=UTC"
        if schema:
            options += f" -c search_path={quote_identifier(schema).strip(chr(34))}"
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        return urlunsplit(parts._replace(query=rest)), options

    def connection_lost(self, raw: Any) -> bool:
        return bool(raw.closed or raw.broken)

    def sqlalchemy_engine(self) -> Any:
        import sqlalchemy as sa  # only migrations need SQLAlchemy's engine; start-up of other commands does not

        conninfo, options = self.conninfo()
        url = sa.make_url(conninfo).set(drivername="postgresql+psycopg")
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"options": options})

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        conninfo, options = self.conninfo()
        raw = psycopg.connect(conninfo, autocommit=True, options=options)
        ids_as_text(raw)
        try:
            yield raw
        finally:
            raw.close()

    async def connect_async(self) -> Any:
        """psycopg's asyncio connection, with the same options as ``connect``; its rows are dicts."""
        conninfo, options = self.conninfo()
        raw = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, options=options,
                                                    row_factory=psycopg.rows.dict_row)
        ids_as_text(raw)
        return raw

    def convert(self, sql: str) -> str:
        return _to_psycopg_params(sql)

    def execute(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> int:
        with conn.raw.cursor() as cur:
            cur.execute(self._sql(sql, params), params or None)
            return cur.rowcount

    def execute_counted(self, conn: Connection, statements: Sequence[tuple[str, Mapping[str, Any] | None]]
                        ) -> list[int]:
        """One round trip: the statements go out in a pipeline, whose end waits for them all; each
        cursor's row count is known from then on (a nested pipeline ends with a sync of its own)."""
        cursors = []
        with conn.raw.pipeline():
            for sql, params in statements:
                cursor = conn.raw.cursor()
                cursor.execute(self._sql(sql, params), params or None)
                cursors.append(cursor)
        counts = [cursor.rowcount for cursor in cursors]
        for cursor in cursors:
            cursor.close()
        return counts

    def fetch_all(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> list[tuple]:
        with conn.raw.cursor() as cur:
            cur.execute(self._sql(sql, params), params or None)
            return cur.fetchall()

    def fetch_dicts(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        with conn.raw.cursor() as cur:
            cur.execute(self._sql(sql, params), params or None)
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def fetch_arrow(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> pa.Table:
        """Built from rows."""
        with conn.raw.cursor() as cur:
            cur.execute(self._sql(sql, params), params or None)
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        return pa.table({name: list(col) for name, col in zip(names, columns, strict=True)})

    def load_arrow(self, conn: Connection, name: str, data: pa.Table, columns_sql: str) -> None:
        """``COPY ... FROM STDIN`` as CSV written by Arrow (no Python loop per row). A table of more than one
        chunk is sent by a writer thread, so that Arrow writes the next chunk while the server parses the last
        one."""
        column_list = ", ".join(quote_identifier(c) for c in data.column_names)
        copy_sql = f"COPY {name} ({column_list}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        with conn.raw.cursor() as cur, cur.copy(
            copy_sql, writer=QueuedLibpqWriter(cur) if data.num_rows > _COPY_CHUNK_ROWS else None,
        ) as copy:
            for i, batch in enumerate(data.to_batches(max_chunksize=_COPY_CHUNK_ROWS)):
                buffer = io.BytesIO()  # the header once: a multi-chunk table must not repeat it as data
                pacsv.write_csv(pa.Table.from_batches([batch]), buffer,
                                write_options=pacsv.WriteOptions(include_header=i == 0))
                copy.write(buffer.getvalue())

    @contextmanager
    def arrow_relation(self, conn: Connection, name: str, data: pa.Table, columns_sql: str) -> Iterator[None]:
        """A temporary table (``Connection.load_arrow``), dropped at the end."""
        conn.load_arrow(name, data, columns_sql)
        try:
            yield
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {quote_identifier(name)}")

    @contextmanager
    def transaction(self, conn: Connection) -> Iterator[None]:
        with conn.raw.transaction():
            yield

    @contextmanager
    def snapshot(self, conn: Connection) -> Iterator[None]:
        conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            conn.raw.execute("ROLLBACK")

    @contextmanager
    def bulk_settings(self, conn: Connection, *, batch_in_python: bool = True,
                      rows: int | None = None) -> Iterator[None]:
        """Settings of a bulk post's session, restored afterwards; single writes and batches under
        ``POSTGRES_BULK_MIN_ROWS`` rows keep the server's, and so pay no round trip for them.

        * ``work_mem``: ``LEDGER_POSTGRES_BULK_WORK_MEM`` (a size with its unit, as ``512MB``; by default
          ``POSTGRES_BULK_WORK_MEM``; ``none`` keeps the server's), unless the session's is larger. The
          per-transaction aggregates, the rules' sorts and the join of the entries to their transactions hold a
          million-row batch; at the server's default of 4MB each spills to temporary files. Each such step may
          use that much (a hash twice that, by ``hash_mem_multiplier``), only as much as the batch needs.
        * No JIT inlining or optimisation: the planner knows nothing of the staging tables' rows, so it
          estimates the rules statement's cost in billions and, with JIT on (the server's default), compiled
          it with full optimisation, which took longer than running it. JIT of expressions, which is cheap,
          stays as the server has it."""
        if rows is not None and rows < POSTGRES_BULK_MIN_ROWS:
            yield
            return
        work_mem = os.environ.get("LEDGER_POSTGRES_BULK_WORK_MEM", POSTGRES_BULK_WORK_MEM).strip()
        if work_mem.lower() != "none" and not re.fullmatch(r"[0-9]+ ?(kB|MB|GB|TB)", work_mem):
            raise InputError(f"LEDGER_POSTGRES_BULK_WORK_MEM={work_mem!r}: a size with its unit, such as 512MB "
                             "(kB, MB, GB or TB), or none")
        previous = conn.one(f"SELECT {', '.join(f'current_setting({n!r})' for n in _BULK_SETTINGS)}, "
                            "pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(:v)",
                            {"v": "0" if work_mem.lower() == "none" else work_mem})
        assert previous is not None
        settings = dict(zip(_BULK_SETTINGS, previous[:-1], strict=True))
        self._set(conn, {**settings, "jit_inline_above_cost": "-1", "jit_optimize_above_cost": "-1",
                         **({"work_mem": work_mem} if previous[-1] else {})})
        try:
            yield
        finally:
            try:  # after a failed statement an open transaction refuses this; the error in flight counts
                self._set(conn, settings)
            except psycopg.Error:
                pass

    @staticmethod
    def _set(conn: Connection, settings: Mapping[str, str]) -> None:
        """Set the session's ``settings`` in one round trip."""
        names = list(settings)
        conn.execute("SELECT " + ", ".join(f"set_config({n!r}, :v{i}, false)" for i, n in enumerate(names)),
                     {f"v{i}": settings[n] for i, n in enumerate(names)})

    @contextmanager
    def pipelined(self, conn: Connection) -> Iterator[None]:
        """psycopg's pipeline mode (unless nested in one already)."""
        if conn.raw.pgconn.pipeline_status:
            yield
            return
        with conn.raw.pipeline():
            yield

    def change_seq(self, conn: Connection) -> int:
        """The writing transaction's id, so a reader can tell from its snapshot which positions are certainly
        committed (see :meth:`safe_change_watermark`)."""
        return int(conn.scalar("SELECT CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT)"))

    def safe_change_watermark(self, conn: Connection, tables: Iterable[str] | None = None) -> int:
        """The snapshot's xmin: every transaction id below it has ended."""
        return int(conn.scalar("SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)"))

    def existing_tables_sql(self) -> str:
        return ("SELECT c.relname FROM pg_class c WHERE c.relnamespace = CAST(current_schema() AS regnamespace) "
                "AND c.relkind IN ('r', 'p', 'v', 'm', 'f')")

    def is_retryable(self, exc: BaseException) -> bool:
        """A concurrent insert of the same external_id (the unique index), a serialization failure or a
        deadlock."""
        return isinstance(exc, psycopg.errors.UniqueViolation | psycopg.errors.SerializationFailure
                          | psycopg.errors.DeadlockDetected)

    def is_numeric_overflow(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.errors.NumericValueOutOfRange)

    def reset_staging(self, conn: Connection, tables: Mapping[str, str], *, new_transaction: bool,
                      writer: bool, truncate_every: int) -> None:
        """Created once per connection and emptied in one round trip: by default with ``ON COMMIT DELETE
        ROWS`` (every pipeline runs inside one database transaction), so a caller that has just begun one
        (``new_transaction``) costs no round trip at all. A ``writer`` connection (many small writes) creates
        them with ``ON COMMIT PRESERVE ROWS`` instead and deletes the previous write's rows at the start of
        the next: truncating five temporary tables at every commit cost more than the rest of the commit;
        every ``truncate_every`` writes a truncate bounds the tables' dead rows."""
        preserve = conn.staging_preserved
        if preserve is not None:
            if not preserve:
                if new_transaction:
                    return
                # a second batch in the same database transaction must not see the first one's rows
                conn.raw.execute("; ".join(f"DELETE FROM {name}" for name in tables))
                return
            conn.staging_writes += 1
            with conn.pipelined():  # one round trip (or none, inside the caller's pipelined block)
                if conn.staging_writes % truncate_every == 0:
                    conn.execute(f"TRUNCATE {', '.join(tables)}")
                else:
                    conn.execute(_delete_all_sql(tuple(tables)))
            return
        on_commit = "PRESERVE ROWS" if writer else "DELETE ROWS"
        conn.execute(_METADATA_OBJECT_FUNCTION)
        for name, columns in tables.items():
            conn.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT {on_commit}")
            conn.execute(f"DELETE FROM {name}")
        conn.staging_preserved = writer

    def stage_arrow(self, conn: Connection, table: pa.Table, present: list[str], columns: tuple[str, ...],
                    ddl: str, *, copy: bool) -> None:
        """``COPY`` straight into ``stage_raw`` (empty: ``staging.reset_staging``)."""
        self.load_arrow(conn, "stage_raw", table.select(present), ddl)

    @property
    def helper_functions_sql(self) -> str:
        return """CREATE OR REPLACE FUNCTION try_timestamptz(value TEXT) RETURNS TIMESTAMPTZ
            LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN RETURN value::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $$"""

    def lock_touched_balances(self, conn: Connection, lock_sql: str, limited_sql: str) -> tuple[int, bool]:
        """Lock the touched accounts' balance rows in id order (no deadlock, no overdraft); the same round
        trip says whether any of them has a balance limit. Statuses were read before the locks: a concurrent
        writer holding them may have moved one of the batch's pending transactions meanwhile, so they must be
        read again."""
        return sum(1 for _, limited in conn.all(lock_sql) if limited), True

    def id_sql(self, prefix_param: str, counter_sql: str) -> str:
        return f"CAST(:{prefix_param} || lpad(to_hex(CAST({counter_sql} AS BIGINT)), 8, '0') AS UUID)"

    def zip_arrays(self, arrays: Iterable[str], names: Iterable[str]) -> str:
        return f"SELECT * FROM unnest({', '.join(arrays)}) AS z({', '.join(names)})"

    def json_rows_agg(self, pairs: str, order_by: str) -> str:
        return f"CAST(json_agg(json_build_object({pairs}) ORDER BY {order_by}) AS TEXT)"

    def json_object(self, pairs: str) -> str:
        return f"json_build_object({pairs})"

    def row_json(self, alias: str) -> str:
        return f"CAST(row_to_json({alias}) AS TEXT)"

    def json_text(self, expr: str, key: str) -> str:
        assert key.isidentifier()
        return f"NULLIF(CAST({expr} AS jsonb) ->> '{key}', '')"

    def json_text_at(self, expr: str, key_param: str) -> str:
        return f"CAST({expr} AS jsonb) ->> :{key_param}"

    def utc_day(self, expr: str) -> str:
        return f"CAST({expr} AS DATE)"

    def regex_extract(self, expr: str, pattern: str, group: bool) -> str:
        assert "'" not in pattern
        return f"substring({expr} from '{pattern}')"

    def after_last(self, expr: str, separator: str) -> str:
        assert "'" not in separator and separator.isprintable()
        return f"regexp_replace({expr}, '^.*{separator}', '')"

    def exact_sums(self, kinds: Mapping[str, str], amount: str) -> tuple[str, Callable[[Mapping[str, Any]], dict]]:
        """NUMERIC sums are exact whatever their size."""
        select = ", ".join(f"sum(CASE WHEN {cond} THEN {amount} ELSE 0 END) AS {kind}" for kind, cond in kinds.items())
        return select, lambda row: {kind: int(row[kind]) for kind in kinds}

    def text_columns(self, table: pa.Table) -> pa.Table:
        """Rows come back as Python values; the staging wants text."""
        return pa.table({c: pa.array([None if v is None else str(v) for v in table.column(c).to_pylist()],
                                     pa.string()) for c in table.column_names})

    def export_csv(self, conn: Connection, select_sql: str, path: Path) -> int:
        """``COPY ... TO STDOUT`` straight into the file: the server formats the CSV."""
        with open(path, "wb") as handle, conn.raw.cursor() as cur, cur.copy(
            f"COPY ({select_sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        ) as copy:
            for chunk in copy:
                handle.write(chunk)
        return int(conn.scalar(f"SELECT count(*) FROM ({select_sql}) AS exported"))

    def read_arrow_batches(self, conn: Connection, sql: str, schema: pa.Schema,
                           batch_rows: int) -> Iterable[pa.RecordBatch]:
        """``COPY (query) TO STDOUT`` as CSV that Arrow parses with the exact column types (no row loop)."""
        buffer = io.BytesIO()
        with conn.raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        buffer.seek(0)
        data = pacsv.read_csv(
            buffer,
            convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in schema},
                strings_can_be_null=True, quoted_strings_can_be_null=False,
            ),
        )
        return data.select(schema.names).to_batches(max_chunksize=batch_rows)
