"""The embedded default destination: a local DuckDB file (``var/warehouse.duckdb``) that dbt-duckdb and BI
tools read. Staging is the Arrow table itself (scanned in place); the merge is an ``INSERT ... ON CONFLICT
DO UPDATE`` by primary key, and the position moves in the same transaction.

DuckDB lets one process write a file, and only while no other process has it open, even read-only. So a
sync works in one of two ways, chosen when it connects:

* **In place**, when no other process holds the file: the sync opens it read-write, as dbt does.
* **Copy and swap**, when readers hold it (a BI tool, a notebook): the sync opens the file read-only
  beside them (which fails, and is retried, only while a writer holds it), copies it to
  ``<file>.sync-<pid>-<random>``, writes into the copy, checkpoints and closes it, and moves it over the
  file with ``os.replace`` (one atomic rename). A reader keeps the snapshot it opened until it reconnects;
  a new connection sees the new file. Positions live in the file with the rows, so either file is
  consistent: the swap publishes every committed table of this sync with its position, or nothing.

Either way, syncs of one file serialise on ``<file>.sync.lock`` (``flock``), and a swap is refused (and
retried from the start) when the file changed after it was copied (another writer, such as ``dbt build``,
wrote in between), so no write is lost. Option ``swap: always`` forces the copy (``never``: in place only,
failing while readers hold the file).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa

from ledger_pipeline import paths
from ledger_pipeline.warehouse.base import SchemaDestination, fault_point, rows_as_dicts
from ledger_pipeline.warehouse.tables import STATE_COLUMNS, STATE_TABLE, ExportTable

SWAP_MODES = ("auto", "always", "never")
# DuckDB 1.5 decodes bit-packed HUGEINT columns (the DECIMAL(38,0) amounts) about 40 times slower than the
# RLE it picks without bit-packing, and every report that reads amounts scans them, so the sync writes
# them without; dbt's profile does the same for the tables it builds. Other integer columns then take
# RLE, constant or plain storage (docs/warehouse.md).
DISABLED_COMPRESSION = "bitpacking"


class WarehouseFileBusy(duckdb.IOException):
    """Another sync holds the file's sync lock, or another process wrote the file during this sync."""


def _file_state(path: Path) -> tuple:
    """What changes when a process writes a DuckDB file: the file's and its WAL's identity, size, mtime."""
    state = []
    for candidate in (path, Path(f"{path}.wal")):
        try:
            st = candidate.stat()
            state.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except FileNotFoundError:
            state.append(None)
    return tuple(state)


class DuckDBDestination(SchemaDestination):
    dialect = "duckdb"
    transient_errors = (duckdb.IOException,)  # the file is locked by another writer

    def __init__(self, config):
        super().__init__(config)
        path = Path(str(config.option("path", str(paths.DEFAULT_WAREHOUSE_PATH))))
        self.path = path if path.is_absolute() else paths.PROJECT_ROOT / path
        self.schema = str(config.option("schema", "main"))
        self.swap = str(config.option("swap", "auto")).lower()
        if self.swap not in SWAP_MODES:
            raise ValueError(f"target {config.name!r}: swap must be one of {', '.join(SWAP_MODES)}")
        self.conn: duckdb.DuckDBPyConnection | None = None
        self.copy_path: Path | None = None  # the file being written when swapping
        self._copied_state: tuple | None = None
        self._lock_fd: int | None = None

    def describe(self) -> str:
        return f"duckdb file {self.path}, schema {self.schema}"

    # -- lifecycle

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._remove_leftover_copies()
            self.conn = None
            if self.swap != "always" or not self.path.exists():  # a new file has no readers
                try:
                    self.conn = duckdb.connect(str(self.path))
                except duckdb.IOException:
                    if self.swap == "never" or not self.path.exists():
                        raise
            if self.conn is None:
                self.conn = duckdb.connect(str(self._copy()))
            self.conn.execute("SET TimeZone = 'UTC'")
            self.conn.execute(f"SET disabled_compression_methods = '{DISABLED_COMPRESSION}'")
            self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(self.schema)}")
        except BaseException:
            self._discard()
            raise

    def close(self) -> None:
        """Disconnect; when writing a copy, publish it over the file (every committed table with its
        position), unless the file changed since it was copied (then ``WarehouseFileBusy``, and the copy is
        dropped: the next attempt starts again from the current file)."""
        if self.conn is None:
            self._unlock()
            return
        try:
            if self.copy_path is not None:
                self.conn.execute("CHECKPOINT")
            self.conn.close()
            self.conn = None
            if self.copy_path is not None:
                if _file_state(self.path) != self._copied_state:
                    raise WarehouseFileBusy(f"{self.path} was written by another process during the sync")
                # A WAL left by a writer that died was replayed into the copy; it must not be replayed
                # again onto the new file. Removed before the swap: dying in between leaves the old file
                # without its last transactions, each one rows and position together, so still consistent.
                Path(f"{self.path}.wal").unlink(missing_ok=True)
                os.replace(self.copy_path, self.path)
                self.copy_path = None
        finally:
            self._discard()

    def _copy(self) -> Path:
        """Copy the file (and its WAL, if a writer left one) while holding it read-only, so that no writer
        is active during the copy."""
        reader = duckdb.connect(str(self.path), read_only=True)
        try:
            self._copied_state = _file_state(self.path)
            self.copy_path = self.path.with_name(f"{self.path.name}.sync-{os.getpid()}-{secrets.token_hex(4)}")
            shutil.copyfile(self.path, self.copy_path)
            wal = Path(f"{self.path}.wal")
            if wal.exists():
                shutil.copyfile(wal, Path(f"{self.copy_path}.wal"))
        finally:
            reader.close()
        return self.copy_path

    def _discard(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.copy_path is not None:
            for leftover in (self.copy_path, Path(f"{self.copy_path}.wal")):
                leftover.unlink(missing_ok=True)
            self.copy_path = None
        self._unlock()

    def _remove_leftover_copies(self) -> None:
        """Copies left by a sync that was killed (only called under the sync lock, so none is in use)."""
        for leftover in self.path.parent.glob(f"{self.path.name}.sync-*"):
            leftover.unlink(missing_ok=True)

    def _lock(self) -> None:
        fd = os.open(f"{self.path}.sync.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise WarehouseFileBusy(f"another sync is writing {self.path}") from exc
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # -- state and tables

    def positions(self) -> dict[str, int]:
        self.conn.execute(self.state_table_sql(self._name(STATE_TABLE)))
        self._comment(STATE_TABLE, STATE_COLUMNS)
        rows = self.conn.execute(f"SELECT table_name, position FROM {self._name(STATE_TABLE)}").fetchall()
        return {name: int(position) for name, position in rows}

    def _catalog(self, table_name: str) -> dict[str | None, str | None]:
        """{column: comment} of a table of this schema, and {None: the table's comment}."""
        where = "database_name = current_database() AND schema_name = ? AND table_name = ?"
        found: dict[str | None, str | None] = dict(self.conn.execute(
            f"SELECT column_name, comment FROM duckdb_columns() WHERE {where}", [self.schema, table_name]).fetchall())
        for (comment,) in self.conn.execute(
                f"SELECT comment FROM duckdb_tables() WHERE {where}", [self.schema, table_name]).fetchall():
            found[None] = comment
        return found

    def _comment(self, table_name: str, columns, existing: dict | None = None) -> None:
        existing = self._catalog(table_name) if existing is None else existing
        for statement in self.comment_sql(table_name, columns, self._name(table_name), existing):
            self.conn.execute(statement)

    def ensure_table(self, table: ExportTable) -> None:
        self.conn.execute(self.create_table_sql(table, self._name(table.name)))
        existing = self._catalog(table.name)
        for name, kind in self.missing_columns(table, {c for c in existing if c is not None}):
            self.conn.execute(f"ALTER TABLE {self._name(table.name)} ADD COLUMN {self.q(name)} {self.column_type(kind)}")
        types = dict(self.conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?", [self.schema, table.name]).fetchall())
        for name in self.text_json_columns(table, types):
            self.conn.execute(f"ALTER TABLE {self._name(table.name)} ALTER COLUMN {self.q(name)} TYPE JSON")
        self._comment(table.name, table.all_columns, existing)

    def _set_position(self, table: ExportTable, position: int, rows: int) -> None:
        self.conn.execute(
            f"INSERT INTO {self._name(STATE_TABLE)} (table_name, position, rows_last_sync, synced_at) "
            "VALUES (?, ?, ?, now()) ON CONFLICT (table_name) DO UPDATE SET position = excluded.position, "
            "rows_last_sync = excluded.rows_last_sync, synced_at = excluded.synced_at",
            [table.name, position, rows])

    def write(self, table: ExportTable, data: pa.Table, position: int) -> None:
        cols = ", ".join(self.q(c) for c in table.column_names)
        updates = ", ".join(f"{self.q(c)} = excluded.{self.q(c)}" for c in table.column_names
                            if c not in table.primary_key)
        pk = ", ".join(self.q(c) for c in table.primary_key)
        self.conn.execute("BEGIN TRANSACTION")
        try:
            self.conn.register("_wh_stage", data)
            fault_point("after_stage", table.name)
            self.conn.execute(
                f"INSERT INTO {self._name(table.name)} ({cols}) SELECT {cols} FROM _wh_stage "
                f"ON CONFLICT ({pk}) DO UPDATE SET {updates}")
            fault_point("during_merge", table.name)
            self._set_position(table, position, data.num_rows)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        finally:
            self.conn.unregister("_wh_stage")

    def record_position(self, table: ExportTable, position: int) -> None:
        self._set_position(table, position, 0)

    def fetch_rows(self, table_name: str) -> list[dict]:
        """Every row of a destination table (for verification: tests, contract checks)."""
        return rows_as_dicts(self.conn.execute(f"SELECT * FROM {self._name(table_name)}"))
