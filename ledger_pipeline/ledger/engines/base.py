"""What every store engine provides: the one place that knows how DuckDB and PostgreSQL differ.

A ``Store`` picks its engine once, from its URL (``engines.engine_for``); its ``Connection`` hands every
call to that engine, and the rest of the package asks the engine for whatever differs: connecting, the
driver's parameter style, SQL fragments, how a batch is staged, locks, memory limits, which errors only
mean "another writer got there first", and the change watermark.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv

if TYPE_CHECKING:
    from ledger_pipeline.ledger.store import Connection

S = TypeVar("S")
T = TypeVar("T")

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ARROW_SCAN_BATCH_ROWS = 64 * 1024


def quote_identifier(name: str) -> str:
    """Quote an identifier that came from code or configuration, refusing anything unusual."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return f'"{name}"'


def in_scan_batches(table: pa.Table, rows: int = ARROW_SCAN_BATCH_ROWS) -> pa.Table:
    """``table`` as record batches of at most ``rows`` rows (zero-copy slices), for registering with DuckDB,
    which scans an Arrow table one batch per thread: a table built or fetched as one big batch (a parser's
    or a mapping's output, a query result) was otherwise read on one core."""
    if table.num_rows <= rows or all(len(b) <= rows for b in table.to_batches()):
        return table
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), table.schema)


class StoreEngine(ABC):
    """One store engine. Instances are cheap and stateless beyond the store's target."""

    #: the store URL's dialect, ``duckdb`` or ``postgresql``
    name: str
    #: for the DDL modules, which still branch on it
    is_postgres: bool = False
    #: whether only one process at a time may write the store (a DuckDB file), so a server cannot run
    #: several writing processes over it
    one_writing_process: bool = False

    def __init__(self, target: str, url: str):
        self.target = target
        self.url = url

    # -- connecting and running statements ---------------------------------------------------------------

    def connection_lost(self, raw: Any) -> bool:
        """Whether a long-lived driver connection was closed under its holder (a server restart, an idle
        timeout), so that it must be replaced."""
        return False

    def store_exists(self) -> bool:
        """Whether the store's database is there to connect to (connecting may create an empty DuckDB file)."""
        return True

    @abstractmethod
    def sqlalchemy_engine(self) -> Any:
        """A SQLAlchemy engine on the store's database (schema migrations run over it); no pooling."""

    @abstractmethod
    def connect(self, read_only: bool = False) -> AbstractContextManager[Any]:
        """A raw driver connection (autocommit), closed when the block ends."""

    async def connect_async(self) -> Any | None:
        """A raw asyncio driver connection (autocommit) for reads on an event loop, its rows as dicts; None
        where the driver has none (a caller then reads through ``connect`` on a worker thread). The caller
        closes it."""
        return None

    @abstractmethod
    def convert(self, sql: str) -> str:
        """``:name`` placeholders in the driver's style."""

    def _sql(self, sql: str, params: Mapping[str, Any] | None) -> str:
        return self.convert(sql) if params else sql

    @abstractmethod
    def execute(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> int:
        """Run a statement; the affected row count where the driver reports it, else -1."""

    def execute_counted(self, conn: Connection, statements: Sequence[tuple[str, Mapping[str, Any] | None]]
                        ) -> list[int]:
        """Run ``statements`` in order; the row count of each (as ``execute``). PostgreSQL sends them
        together and waits once."""
        return [self.execute(conn, sql, params) for sql, params in statements]

    @abstractmethod
    def fetch_all(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> list[tuple]: ...

    @abstractmethod
    def fetch_dicts(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def fetch_arrow(self, conn: Connection, sql: str, params: Mapping[str, Any] | None) -> pa.Table: ...

    @abstractmethod
    def load_arrow(self, conn: Connection, name: str, data: pa.Table, columns_sql: str) -> None:
        """Create temporary table ``name`` (``columns_sql``, already quoted) and bulk-load ``data``."""

    @abstractmethod
    def arrow_relation(self, conn: Connection, name: str, data: pa.Table,
                       columns_sql: str) -> AbstractContextManager[None]: ...

    @abstractmethod
    def transaction(self, conn: Connection) -> AbstractContextManager[None]: ...

    @abstractmethod
    def snapshot(self, conn: Connection) -> AbstractContextManager[None]:
        """A read-only transaction on one consistent snapshot, rolled back at the end."""

    def pipelined(self, conn: Connection) -> AbstractContextManager[None]:
        """Statements sent without waiting for each one's result, where the engine can (see
        ``Connection.pipelined``)."""
        return nullcontext()

    def unordered_appends(self, conn: Connection) -> AbstractContextManager[None]:
        """Appends that may land in any order, where that lets the engine write on every core."""
        return nullcontext()

    def bulk_settings(self, conn: Connection, *, batch_in_python: bool = True,
                      rows: int | None = None) -> AbstractContextManager[None]:
        """The session's settings while a batch of ``rows`` rows (None: not known before it is read) posts,
        where the engine needs other settings for a batch than for single writes."""
        return nullcontext()

    # -- writers, locks, retries ------------------------------------------------------------------------

    def write_lock(self) -> AbstractContextManager[Any]:
        """What a writing transaction holds within this process (see ``Store.write_lock``)."""
        return nullcontext()

    def group_key(self) -> str | None:
        """The key that writers of one database share for group commit; None: no sharing."""
        return self.url

    @abstractmethod
    def change_seq(self, conn: Connection) -> int:
        """The change position of the current write (see ``Connection.change_seq``)."""

    @abstractmethod
    def safe_change_watermark(self, conn: Connection, tables: Iterable[str] | None = None) -> int:
        """Every write with ``change_seq`` below this value is committed and visible to ``conn``. ``tables``:
        the tables whose rows the caller reads (by default every table with a ``change_seq`` column)."""

    @abstractmethod
    def existing_tables_sql(self) -> str:
        """SQL for the names of the tables and views in the store's current schema."""

    def staged_write(self, conn: Connection, stage: Callable[[Connection], S],
                     write: Callable[[Connection, int, S | None], T]) -> T:
        """Run a write in one database transaction on ``conn`` (the caller holds the write lock):
        ``write(conn, seq, staged)``, where ``staged`` is what ``stage(conn)`` returned when the engine
        stages before writing and nobody else wrote in between, else None (``write`` then does it all inside).
        Engines that stage inside the writing transaction never call ``stage``."""
        with conn.transaction():
            return write(conn, conn.change_seq(), None)

    @abstractmethod
    def is_retryable(self, exc: BaseException) -> bool:
        """Errors that only mean "another writer got there first": retrying the whole write is safe."""

    @abstractmethod
    def is_numeric_overflow(self, exc: BaseException) -> bool:
        """A sum or value past NUMERIC(38,0)."""

    # -- the posting pipeline's staging -----------------------------------------------------------------

    @abstractmethod
    def reset_staging(self, conn: Connection, tables: Mapping[str, str], *, new_transaction: bool,
                      writer: bool, truncate_every: int) -> None:
        """Create the staging tables (name -> column list) for ``conn`` if needed and make sure they are empty
        (see ``staging.reset_staging``)."""

    @abstractmethod
    def stage_arrow(self, conn: Connection, table: pa.Table, present: list[str], columns: tuple[str, ...],
                    ddl: str, *, copy: bool) -> None:
        """Make ``table`` (its ``present`` columns of ``columns``) the ``stage_raw`` relation."""

    def unstage_arrow(self, conn: Connection) -> None:  # noqa: B027 - most engines leave nothing behind
        """Undo what ``stage_arrow`` left besides the staging tables."""

    def stage_parquet(self, conn: Connection, path: Path, select_sql: str) -> bool:
        """Append the rows of ``select_sql`` (a scan of the Parquet file ``path``) to ``stage_raw``, where the
        engine reads the file itself; False when it does not (the caller reads the file into Arrow)."""
        return False

    @property
    @abstractmethod
    def helper_functions_sql(self) -> str:
        """``try_timestamptz(text)``: NULL instead of an error for text that is not a timestamp."""

    @abstractmethod
    def lock_touched_balances(self, conn: Connection, lock_sql: str, limited_sql: str) -> tuple[int, bool]:
        """Before a batch moves balances: how many of the accounts it touches have a balance limit, and
        whether the statuses read before must be read again (they were read before the locks were taken)."""

    # -- SQL fragments --------------------------------------------------------------------------------

    @abstractmethod
    def id_sql(self, prefix_param: str, counter_sql: str) -> str:
        """SQL for the UUID ``prefix || counter as 8 lowercase hex digits``."""

    #: digits (text, at most 38) as NUMERIC(38,0)
    digits_to_numeric: str
    #: SQL of the text ``metadata`` in one canonical form when it is a JSON object, else NULL
    metadata_object: str
    #: SQL that ends a subquery whose computed columns the query above reads more than once, so that each
    #: is computed once per row: PostgreSQL pulls a plain subquery up into the query above, which then
    #: computes such a column once per use (the metadata check of ``staging``'s entries, a function call,
    #: ran twice per entry); ``OFFSET 0`` keeps it a subquery
    projection_fence: str = ""
    #: SQL with ``\\1`` for a column: 2 when the group's non-NULL values differ, else 1
    values_differ: str

    #: SQL predicate over ``doc`` (``metadata_object``'s text): the object may have keys out of order, at
    #: some depth; None when ``metadata_object`` already sorts them
    metadata_unsorted: str | None = None

    #: whether the pipeline looks up only the account ids and names the batch names (``staging``'s account
    #: keys) rather than grouping every account's: a row store's single writes spend most of their time
    #: grouping and sorting every account otherwise; a column store groups them all faster than it filters
    #: them by a million staged rows
    account_keys_of_batch_only: bool = False

    def looks_up_accounts_per_row(self, conn: Connection) -> bool:
        """Whether the batch staged on ``conn`` reads the accounts it names row by row (an index lookup
        each: its account references, their stored balances for the overflow and limit rules) rather than
        by set-based joins: only for a few rows at a time."""
        return False

    def sorted_metadata(self, docs: str) -> str | None:
        """A query of ``doc, sorted, duplicated`` for the ``doc`` column (``metadata_object``'s text) of the
        relation ``docs``: ``sorted`` is the same object with the keys of every object in it, however deep,
        in bytewise order, and ``duplicated`` says that some nested object names a key twice (refused, as at
        the top level). None when ``metadata_object`` already sorts them (PostgreSQL's ``jsonb``), so that
        two objects that differ only in key order have one canonical text, on both engines."""
        return None
    #: the payload hash version that new writes store (``staging.payload_hash_sql``); stored rows keep theirs
    payload_hash_version: int = 3
    #: aggregate: a transaction's ``entry`` strings sorted bytewise (whatever the collation) and joined
    #: by ``,``, the same text on both engines (payload hash version 2, ``staging.payload_hash_sql``)
    sorted_entries: str
    #: aggregate: the engine's own signature of a transaction's multiset of ``entry`` strings in payload
    #: hash version 1, which rows stored before version 2 hold
    entries_signature_v1: str
    #: payload hash version 3: SQL of one entry's ``entry`` value, a 64-bit hash of its typed fields
    #: (``{account_id}``, ``{account_ref}``, ``{direction}``, ``{amount}``, ``{amount_text}``, ``{currency}``;
    #: the reference and the text as given count only where the id and the amount are NULL), with no text
    #: built per entry
    entry_value_v3: str
    #: aggregate of a transaction's version 3 ``entry`` values that does not depend on their order: their
    #: count and exact sum
    entries_signature_v3: str = "CAST(count(*) AS TEXT) || '#' || CAST(sum(entry) AS TEXT)"

    @abstractmethod
    def zip_arrays(self, arrays: Iterable[str], names: Iterable[str]) -> str:
        """A SELECT of one row per array position, columns ``names`` from the array expressions ``arrays``."""

    @abstractmethod
    def json_rows_agg(self, pairs: str, order_by: str) -> str:
        """Aggregate: a JSON array (as text) of one object per row, built from ``'key', value`` ``pairs``."""

    @abstractmethod
    def json_object(self, pairs: str) -> str:
        """A JSON object from ``'key', value`` pairs."""

    @abstractmethod
    def row_json(self, alias: str) -> str:
        """A whole row of relation ``alias`` as JSON text."""

    @abstractmethod
    def json_text(self, expr: str, key: str) -> str:
        """Field ``key`` of the JSON text ``expr``, as text; empty text is NULL."""

    @abstractmethod
    def json_text_at(self, expr: str, key_param: str) -> str:
        """The field of the JSON text ``expr`` that the bound parameter ``key_param`` names, as text (the
        parameter's value is :meth:`json_key` of the field's name: a caller's key is never SQL text)."""

    def json_key(self, key: str) -> str:
        """The bound value that names the field ``key`` for :meth:`json_text_at`."""
        return key

    @abstractmethod
    def utc_day(self, expr: str) -> str:
        """The UTC calendar day of a TIMESTAMPTZ."""

    @abstractmethod
    def regex_extract(self, expr: str, pattern: str, group: bool) -> str:
        """The first match of ``pattern`` (its first group, with ``group``) in ``expr``, NULL if none."""

    @abstractmethod
    def after_last(self, expr: str, separator: str) -> str:
        """The text of ``expr`` after the last ``separator``."""

    @abstractmethod
    def exact_sums(self, kinds: Mapping[str, str], amount: str) -> tuple[str, Callable[[Mapping[str, Any]], dict]]:
        """Select-list items summing ``amount`` under each condition of ``kinds`` exactly, whatever the total's
        size, and a function turning a result row into ``{kind: int}``."""

    def text_columns(self, table: pa.Table) -> pa.Table:
        """A query result with every column as text, as the staging wants it."""
        return table

    @abstractmethod
    def read_arrow_batches(self, conn: Connection, sql: str, schema: pa.Schema,
                           batch_rows: int) -> Iterable[pa.RecordBatch]:
        """The rows of ``sql`` (no parameters) typed as ``schema``, in batches of at most ``batch_rows``."""

    def export_csv(self, conn: Connection, select_sql: str, path: Path) -> int:
        """Write the rows of ``select_sql`` (no parameters) to the CSV file ``path`` with a header line;
        returns the number of rows. Amounts stay exact integers of minor units."""
        data = self.fetch_arrow(conn, select_sql, None)
        pacsv.write_csv(data, path)
        return data.num_rows



class EngineBound:
    """``is_postgres`` for objects bound to an engine (``Store``, ``Connection``): the DDL modules and some
    tests still branch on it."""

    engine: StoreEngine

    @property
    def is_postgres(self) -> bool:
        return self.engine.is_postgres
