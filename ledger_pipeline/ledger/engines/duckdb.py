"""DuckDB: an embedded file (one writing process), or a private in-memory database."""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import pyarrow as pa

from ledger_pipeline.ledger.engines.base import (
    _PARAM,
    StoreEngine,
    in_scan_batches,
    quote_identifier,
)
from ledger_pipeline.ledger.errors import InputError

if TYPE_CHECKING:
    from ledger_pipeline.ledger.store import Connection

S = TypeVar("S")
T = TypeVar("T")

MEMORY = ":memory:"
DUCKDB_BULK_MEMORY_LIMIT = "768MB"  # the batch is also held in Python, as an Arrow table
DUCKDB_FILE_BULK_MEMORY_LIMIT = "1000MB"  # DuckDB reads the batch's file itself (``batch_input.ParquetSource``)
_LIMB = 10**19

_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class ChangeMark:
    """A change position taken by a connection, and how many that connection had taken by then."""

    position: int
    taken: int


@functools.lru_cache(maxsize=1024)  # the same few statements run again and again (every single write)
def _to_duckdb_params(sql: str) -> str:
    return _PARAM.sub(r"$\1", sql)


def _rows_with_text_ids(result: Any) -> list[tuple]:
    """A result's rows with its UUID columns in their canonical text form, as ids are everywhere in Python
    (and as PostgreSQL's connections load them)."""
    rows = result.fetchall()
    uuid_columns = {i for i, d in enumerate(result.description or ()) if d[1] == "UUID"}
    if not uuid_columns or not rows:
        return rows
    return [tuple(str(v) if i in uuid_columns and v is not None else v for i, v in enumerate(row))
            for row in rows]


class DuckDBEngine(StoreEngine):
    """A DuckDB file or ``:memory:``. A file takes one writing transaction at a time within this process
    (``write_lock``) and stages a bulk post before its writing transaction (``staged_write``); an in-memory
    database is private to its connection, so it needs neither."""

    name = "duckdb"
    one_writing_process = True
    # minified (``sorted_metadata`` then sorts the keys). No object: one with a ``\u0000`` escape (a NUL
    # byte in a key or value), which PostgreSQL's jsonb refuses, so a DuckDB store would keep metadata no
    # PostgreSQL store or warehouse could; one with a key twice, which DuckDB reads as its first value and
    # jsonb keeps as its last
    metadata_object = ("CASE WHEN json_type(TRY_CAST(metadata AS JSON)) = 'OBJECT' "
                       r"AND NOT regexp_matches(metadata, '(^|[^\\])(\\\\)*\\u0000') "
                       "AND len(json_keys(TRY_CAST(metadata AS JSON))) "
                       "= len(list_distinct(json_keys(TRY_CAST(metadata AS JSON)))) "
                       "THEN CAST(json(TRY_CAST(metadata AS JSON)) AS TEXT) END")
    digits_to_numeric = "CAST(CAST(digits AS HUGEINT) AS NUMERIC(38,0))"  # a direct cast is ~100x slower
    values_differ = (r"CASE WHEN min(CASE WHEN \1 IS NOT NULL THEN hash(\1) END) "
                     r"<> max(CASE WHEN \1 IS NOT NULL THEN hash(\1) END) THEN 2 ELSE 1 END")
    # a list sorted after aggregation: DuckDB's ordered aggregates are slow
    sorted_entries = "array_to_string(list_sort(list(entry)), ',')"
    entries_signature_v1 = "CAST(count(*) AS TEXT) || '#' || CAST(sum(md5_number_lower(entry)) AS TEXT)"
    # Version 3: DuckDB's 64-bit ``hash()`` of the entry's typed fields. An account named by id or by name is
    # one account, an amount given as 1.00 or 100 one amount, as in version 2. ``hash()`` may change in a
    # DuckDB release: a stored hash then differs, and the stored transaction's is computed again
    # (``staging.stored_hash_sql``), so an upgrade costs time on resubmissions, never a wrong answer.
    entry_value_v3 = ("hash({account_id}, CASE WHEN {account_id} IS NULL THEN {account_ref} END, {direction}, "
                      "{amount}, CASE WHEN {amount} IS NULL THEN {amount_text} END, {currency})")

    def __init__(self, target: str, url: str):
        super().__init__(target, url)
        self.in_memory = target == MEMORY

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[Any]:
        if not self.in_memory:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        raw = duckdb.connect(self.target, read_only=read_only and Path(self.target).exists())
        try:
            raw.execute("SET TimeZone = 'UTC'")
            yield raw
        finally:
            raw.close()

    def convert(self, sql: str) -> str:
        return _to_duckdb_params(sql)

    def store_exists(self) -> bool:
        return self.in_memory or Path(self.target).is_file()

    def sqlalchemy_engine(self) -> Any:
        import sqlalchemy as sa  # only migrations need SQLAlchemy's engine; start-up of other commands does not

        return sa.create_engine(f"duckdb:///{self.target}", poolclass=sa.pool.NullPool)

    def _run(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> Any:
        return conn.raw.execute(self._sql(sql, params), dict(params) if params else None)

    def execute(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> int:
        result = self._run(conn, sql, params)
        if result.description and result.description[0][0] == "Count":
            row = result.fetchone()
            return int(row[0]) if row else 0
        return -1

    def fetch_all(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> list[tuple]:
        return _rows_with_text_ids(self._run(conn, sql, params))

    def fetch_dicts(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        result = self._run(conn, sql, params)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in _rows_with_text_ids(result)]

    def fetch_arrow(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> pa.Table:
        return self._run(conn, sql, params).to_arrow_table()

    def load_arrow(self, conn: Connection, name: str, data: pa.Table, columns_sql: str) -> None:
        """DuckDB scans the Arrow table in place."""
        column_list = ", ".join(quote_identifier(c) for c in data.column_names)
        conn.raw.register("_arrow_in", data)
        try:
            conn.raw.execute(f"INSERT INTO {name} ({column_list}) SELECT {column_list} FROM _arrow_in")
        finally:
            conn.raw.unregister("_arrow_in")

    @contextmanager
    def arrow_relation(self, conn: Connection, name: str, data: pa.Table, columns_sql: str) -> Iterator[None]:
        """The Arrow table itself, scanned in place in ``in_scan_batches`` (no copy)."""
        conn.raw.register(name, in_scan_batches(data))
        try:
            yield
        finally:
            conn.raw.unregister(name)

    @contextmanager
    def transaction(self, conn: Connection) -> Iterator[None]:
        conn.raw.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            conn.raw.execute("ROLLBACK")
            raise
        conn.raw.execute("COMMIT")

    @contextmanager
    def snapshot(self, conn: Connection) -> Iterator[None]:
        conn.raw.execute("BEGIN TRANSACTION")
        try:
            yield
        finally:
            conn.raw.execute("ROLLBACK")

    @contextmanager
    def unordered_appends(self, conn: Connection) -> Iterator[None]:
        """``preserve_insertion_order = false`` inside the block (restored afterwards), so that an
        ``INSERT ... SELECT`` writes on every core."""
        previous = conn.scalar("SELECT current_setting('preserve_insertion_order')")
        conn.raw.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            conn.raw.execute(f"SET preserve_insertion_order = {'true' if previous else 'false'}")

    @contextmanager
    def bulk_settings(self, conn: Connection, *, batch_in_python: bool = True,
                      rows: int | None = None) -> Iterator[None]:
        """Cap DuckDB's memory while a batch posts into a file-backed store, so that a million-transaction batch
        spills its staging to disk (next to the store) instead of growing the process past ~1.5 GB (the cap
        counts DuckDB's buffer pool only; Python, the Arrow batch and DuckDB's other allocations come on top).
        The cap is ``LEDGER_DUCKDB_BULK_MEMORY_LIMIT`` (DuckDB's syntax, e.g. ``4GB``; ``none`` leaves DuckDB's
        default of 80 % of RAM); by default ``DUCKDB_BULK_MEMORY_LIMIT``, or ``DUCKDB_FILE_BULK_MEMORY_LIMIT``
        when the batch is not held in Python (``batch_in_python=False``: DuckDB reads it from its file), which
        leaves DuckDB the process memory an Arrow batch would take. The previous setting is restored."""
        default = DUCKDB_BULK_MEMORY_LIMIT if batch_in_python else DUCKDB_FILE_BULK_MEMORY_LIMIT
        limit = os.environ.get("LEDGER_DUCKDB_BULK_MEMORY_LIMIT", default)
        if limit.lower() == "none" or not conn.scalar(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ):
            yield
            return
        previous = conn.scalar("SELECT current_setting('memory_limit')")
        try:
            conn.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
        except duckdb.Error as exc:  # before the post starts: bad input, not a failed post
            raise InputError(f"LEDGER_DUCKDB_BULK_MEMORY_LIMIT={limit!r}: not a size DuckDB takes, such as 4GB, or "
                             f"none ({str(exc).splitlines()[0]})") from exc
        try:
            yield
        finally:
            try:  # after a failed statement the transaction is aborted and refuses this; the error in flight counts
                conn.execute("RESET memory_limit")  # exact when it was DuckDB's default, the usual case
                if conn.scalar("SELECT current_setting('memory_limit')") != previous:
                    conn.execute(f"SET memory_limit = '{previous}'")  # a custom setting, as DuckDB prints it
            except Exception:  # noqa: BLE001
                pass

    def write_lock(self) -> AbstractContextManager[Any]:
        """One writing transaction at a time per DuckDB file within this process (a re-entrant lock).

        DuckDB lets one process write a file; inside it, concurrent transactions that update the same rows
        conflict (and are retried), but appends never conflict, so without this lock two threads could both
        insert one ``external_id`` (DuckDB tables carry no unique index, see ``schema.py``). It also lets a
        bulk post stage a batch in a transaction of its own before the writing one (``staged_write``): every
        write of this package to a DuckDB file holds it. An in-memory DuckDB is private to its connection.
        """
        if self.in_memory:
            return nullcontext()
        key = os.path.realpath(self.target)
        with _WRITE_LOCKS_GUARD:
            return _WRITE_LOCKS.setdefault(key, threading.RLock())

    def group_key(self) -> str | None:
        """None in memory: every connection sees its own database."""
        return None if self.in_memory else os.path.realpath(self.target)

    def change_seq(self, conn: Connection) -> int:
        """A sequence (one writer)."""
        conn.change_seqs_taken += 1
        return int(conn.scalar("SELECT nextval('ledger_change_seq')"))

    def change_mark(self, conn: Connection) -> ChangeMark:
        """Take a change position, to tell later whether any other connection wrote since
        (:meth:`only_own_changes_since`)."""
        return ChangeMark(self.change_seq(conn), conn.change_seqs_taken)

    @staticmethod
    def only_own_changes_since(conn: Connection, mark: ChangeMark, seq: int) -> bool:
        """Given ``seq``, a position ``conn`` has just taken, whether every change position handed out since
        ``mark`` was taken by ``conn``, so no other connection wrote the ledger since (every write of the
        ledger's tables takes a position). DuckDB's sequences are not transactional: a position once handed
        out is never handed out again, whether its transaction commits or not. (Its ``last_value`` cannot
        serve for this: after a reopen it shows the next value, not the last one.)"""
        return seq - mark.position == conn.change_seqs_taken - mark.taken

    def staged_write(self, conn: Connection, stage: Callable[[Connection], S],
                     write: Callable[[Connection, int, S | None], T]) -> T:
        """On a file, the batch is staged before the writing transaction.

        DuckDB scans data written in the still-open transaction on one thread (it is held in
        transaction-local storage), so staging inside the writing transaction ran most statements of a post
        on one core. Here ``stage`` runs first, each statement committed into the connection's temporary
        tables, so that every later statement scans them in parallel. That is sound because the staging
        reads ledger state that nothing changes in between: the caller holds the store's write lock across
        both (every write of this package holds it). As a check on writes that bypass it, the writing
        transaction makes sure that every change position handed out since staging began was this
        connection's (``only_own_changes_since``); if not, ``write`` gets None and does it all inside.
        """
        if self.in_memory:
            return super().staged_write(conn, stage, write)
        mark = self.change_mark(conn)
        staged = stage(conn)
        with conn.transaction():
            seq = self.change_seq(conn)
            return write(conn, seq, staged if self.only_own_changes_since(conn, mark, seq) else None)

    def safe_change_watermark(self, conn: Connection, tables: Iterable[str] | None = None) -> int:
        """The sequence's ``last_value`` + 1, capped by 1 + the highest ``change_seq`` visible in ``tables``
        (by default every table with that column). After the file is reopened ``last_value`` reports the
        *next* value, so + 1 would then be one too high and the next write would fall behind a sync's
        acknowledged position; the cap makes it exact, or lower (never higher), which only delays a row to
        the next sync. A cap over fewer tables is lower or equal, so still safe, and holds back no row of
        those tables. (``information_schema.columns`` costs tens of milliseconds on a fresh connection:
        a sync names its tables.)"""
        last = conn.scalar("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = 'ledger_change_seq'")
        if tables is None:
            names = [r[0] for r in conn.all(
                "SELECT table_name FROM information_schema.columns WHERE column_name = 'change_seq' "
                "AND table_schema = current_schema() AND table_catalog = current_database()")]
        else:
            in_store = {r[0] for r in conn.all(self.existing_tables_sql())}
            names = sorted(t for t in set(tables) if t in in_store)
        if not names:
            return int(last or 0) + 1
        highest = conn.scalar("SELECT max(m) FROM (" + " UNION ALL ".join(
            f"SELECT max(change_seq) AS m FROM {quote_identifier(t)}" for t in names) + ") u")
        return min(int(last or 0) + 1, int(highest or 0) + 1)

    def existing_tables_sql(self) -> str:
        return ("SELECT table_name FROM duckdb_tables() WHERE schema_name = current_schema() "
                "AND database_name = current_database() UNION ALL "
                "SELECT view_name FROM duckdb_views() WHERE schema_name = current_schema() "
                "AND database_name = current_database()")

    def is_retryable(self, exc: BaseException) -> bool:
        """A write-write conflict (DuckDB's optimistic concurrency)."""
        return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()

    def is_numeric_overflow(self, exc: BaseException) -> bool:
        return isinstance(exc, duckdb.OutOfRangeException)

    def reset_staging(self, conn: Connection, tables: Mapping[str, str], *, new_transaction: bool,
                      writer: bool, truncate_every: int) -> None:
        for name, columns in tables.items():
            conn.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({columns})")
            conn.execute(f"DELETE FROM {name}")

    def stage_arrow(self, conn: Connection, table: pa.Table, present: list[str], columns: tuple[str, ...],
                    ddl: str, *, copy: bool) -> None:
        """A view over the Arrow table itself (scanned in place, no copy), or with ``copy`` (outside a
        transaction) a copy into the temporary table, which the staging's joins read faster than the Arrow
        scan."""
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

    def unstage_arrow(self, conn: Connection) -> None:
        if conn.scalar("SELECT count(*) FROM duckdb_views() WHERE view_name = 'stage_raw' AND temporary"):
            conn.execute("DROP VIEW stage_raw")  # a copy (a table) is emptied by the next reset_staging
        conn.raw.unregister("_stage_in")

    def stage_parquet(self, conn: Connection, path: Path, select_sql: str) -> bool:
        """A file-backed store reads the file itself (an in-memory one takes it as Arrow, like PostgreSQL). A
        data page that does not decode is the file's fault: ``InputError`` naming it."""
        if self.in_memory:
            return False
        try:
            conn.execute(f"INSERT INTO stage_raw BY NAME {select_sql}")
        except (duckdb.IOException, duckdb.InvalidInputException) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from exc
        return True

    @property
    def helper_functions_sql(self) -> str:
        return "CREATE OR REPLACE MACRO try_timestamptz(value) AS TRY_CAST(value AS TIMESTAMPTZ)"

    def lock_touched_balances(self, conn: Connection, lock_sql: str, limited_sql: str) -> tuple[int, bool]:
        """No row locks: one writer at a time (``write_lock``)."""
        return int(conn.scalar(limited_sql) or 0), False

    def id_sql(self, prefix_param: str, counter_sql: str) -> str:
        return f"CAST(:{prefix_param} || printf('%08x', CAST({counter_sql} AS BIGINT)) AS UUID)"

    def zip_arrays(self, arrays: Iterable[str], names: Iterable[str]) -> str:
        return "SELECT " + ", ".join(f"unnest({a}) AS {n}" for a, n in zip(arrays, names, strict=True))

    # only a document with a ``,`` can hold an object of two keys, and one without a nested object or array
    # whose keys are in order (a single write's are) is its own canonical text
    metadata_unsorted = (r"doc LIKE '%,%' AND (regexp_matches(substr(doc, 2), '[\[{]') "
                         "OR json_keys(doc) <> list_sort(json_keys(doc)))")

    def sorted_metadata(self, docs: str) -> str:
        """Set-based over ``json_tree``: each node's position is the list of its ancestors' keys (array
        indexes zero-padded) from the root, a closing bracket sorts after its node's last child, and the
        tokens are joined in that order; an object with no object or array in it (most) takes one sorted
        aggregate. Only the documents ``metadata_unsorted`` selects are read."""
        return f"""
WITH RECURSIVE
candidates AS (SELECT DISTINCT doc, regexp_matches(substr(doc, 2), '[\\[{{]') AS nested
               FROM ({docs}) d WHERE {self.metadata_unsorted}),
flat AS (SELECT doc FROM candidates WHERE NOT nested),
docs AS (SELECT doc FROM candidates WHERE nested),
tree AS (SELECT d.doc, j.id, j.parent, j.key, j.type, CAST(j.atom AS TEXT) AS atom FROM docs d, json_tree(d.doc) j),
placed(doc, id, type, member, pos) AS (
    SELECT doc, id, type, '', CAST([] AS STRUCT(c BOOLEAN, k TEXT)[]) FROM tree WHERE parent IS NULL
    UNION ALL
    SELECT t.doc, t.id, t.type, CASE WHEN p.type = 'OBJECT' THEN json_quote(t.key) || ':' ELSE '' END,
           list_append(p.pos, {{'c': false, 'k': CASE WHEN p.type = 'ARRAY' THEN lpad(t.key, 20, '0') ELSE t.key END}})
    FROM tree t JOIN placed p ON t.doc = p.doc AND t.parent = p.id
),
tokens AS (
    SELECT p.doc, p.pos, CASE WHEN row_number() OVER (PARTITION BY p.doc, t.parent ORDER BY p.pos) > 1
                              THEN ',' ELSE '' END || p.member
           || CASE p.type WHEN 'OBJECT' THEN '{{' WHEN 'ARRAY' THEN '[' WHEN 'NULL' THEN 'null' ELSE t.atom END AS token
    FROM placed p JOIN tree t ON t.doc = p.doc AND t.id = p.id
    UNION ALL
    SELECT doc, list_append(pos, {{'c': true, 'k': ''}}), CASE type WHEN 'OBJECT' THEN '}}' ELSE ']' END
    FROM placed WHERE type IN ('OBJECT', 'ARRAY')
),
duplicated AS (
    SELECT DISTINCT t.doc FROM tree t JOIN tree p ON p.doc = t.doc AND p.id = t.parent AND p.type = 'OBJECT'
    GROUP BY t.doc, t.parent, t.key HAVING count(*) > 1
)
SELECT k.doc, k.sorted, (u.doc IS NOT NULL) AS duplicated
FROM (SELECT doc, string_agg(token, '' ORDER BY pos) AS sorted FROM tokens GROUP BY doc) k
LEFT JOIN duplicated u ON u.doc = k.doc
UNION ALL
SELECT f.doc, '{{' || string_agg(json_quote(j.key) || ':' || CAST(j.value AS TEXT), ',' ORDER BY j.key) || '}}', false
FROM flat f, json_each(f.doc) j GROUP BY f.doc"""

    def json_rows_agg(self, pairs: str, order_by: str) -> str:
        return f"CAST(to_json(list(json_object({pairs}) ORDER BY {order_by})) AS TEXT)"

    def json_object(self, pairs: str) -> str:
        return f"json_object({pairs})"

    def row_json(self, alias: str) -> str:
        return f"CAST(to_json({alias}) AS VARCHAR)"

    def json_text(self, expr: str, key: str) -> str:
        assert key.isidentifier()
        return f"NULLIF(json_extract_string({expr}, '$.{key}'), '')"

    def json_text_at(self, expr: str, key_param: str) -> str:
        return f"json_extract_string({expr}, :{key_param})"

    def json_key(self, key: str) -> str:
        return "$." + json.dumps(key)  # a JSON path with the name quoted: any key, dots included

    def utc_day(self, expr: str) -> str:
        """By arithmetic on the epoch (a cast goes through the ICU calendar, several times slower over a
        million rows); connections run in UTC."""
        return f"(DATE '1970-01-01' + CAST(epoch_us({expr}) // 86400000000 AS INTEGER))"

    def regex_extract(self, expr: str, pattern: str, group: bool) -> str:
        assert "'" not in pattern
        return f"NULLIF(regexp_extract({expr}, '{pattern}'{', 1' if group else ''}), '')"

    def after_last(self, expr: str, separator: str) -> str:
        """A split (about twice as fast as a regular expression)."""
        assert "'" not in separator
        return f"string_split({expr}, '{separator}')[-1]"

    def exact_sums(self, kinds: Mapping[str, str], amount: str) -> tuple[str, Callable[[Mapping[str, Any]], dict]]:
        """DuckDB sums DECIMAL(38,0) in DECIMAL(38,0) and fails past 38 digits, which a whole ledger's total in
        one currency may exceed even when every account's balance fits: the amounts are summed in two 19-digit
        limbs (exact in HUGEINT for any realistic number of rows) and recombined in Python."""
        select = ", ".join(
            f"sum(CASE WHEN {cond} THEN CAST({amount} AS HUGEINT) // {_LIMB} ELSE 0 END) AS {kind}_hi, "
            f"sum(CASE WHEN {cond} THEN CAST({amount} AS HUGEINT) % {_LIMB} ELSE 0 END) AS {kind}_lo"
            for kind, cond in kinds.items()
        )
        return select, lambda row: {kind: int(row[f"{kind}_hi"]) * _LIMB + int(row[f"{kind}_lo"]) for kind in kinds}

    def read_arrow_batches(self, conn: Connection, sql: str, schema: pa.Schema,
                           batch_rows: int) -> Iterable[pa.RecordBatch]:
        """Streamed: the query runs while the caller consumes earlier batches."""
        return conn.raw.execute(sql).to_arrow_reader(batch_rows)
