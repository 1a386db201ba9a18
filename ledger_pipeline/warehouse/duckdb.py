"""The embedded default destination: a local DuckDB file (``var/warehouse.duckdb``) that dbt-duckdb and BI
tools read. Staging is the Arrow table itself (scanned in place); the merge is an ``INSERT ... ON CONFLICT
DO UPDATE`` by primary key, and the position moves in the same transaction.

DuckDB allows one writing process per file: a sync waits (retries) while another process holds it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from ledger_pipeline import paths
from ledger_pipeline.warehouse.base import SchemaDestination, fault_point, rows_as_dicts
from ledger_pipeline.warehouse.tables import STATE_TABLE, ExportTable


class DuckDBDestination(SchemaDestination):
    dialect = "duckdb"
    transient_errors = (duckdb.IOException,)  # the file is locked by another writer

    def __init__(self, config):
        super().__init__(config)
        path = Path(str(config.option("path", str(paths.DEFAULT_WAREHOUSE_PATH))))
        self.path = path if path.is_absolute() else paths.PROJECT_ROOT / path
        self.schema = str(config.option("schema", "main"))
        self.conn: duckdb.DuckDBPyConnection | None = None

    def describe(self) -> str:
        return f"duckdb file {self.path}, schema {self.schema}"

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = duckdb.connect(str(self.path))
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(self.schema)}")

    def positions(self) -> dict[str, int]:
        self.conn.execute(self.state_table_sql(self._name(STATE_TABLE)))
        rows = self.conn.execute(f"SELECT table_name, position FROM {self._name(STATE_TABLE)}").fetchall()
        return {name: int(position) for name, position in rows}

    def ensure_table(self, table: ExportTable) -> None:
        self.conn.execute(self.create_table_sql(table, self._name(table.name)))
        existing = {r[0] for r in self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [self.schema, table.name]).fetchall()}
        for name, kind in self.missing_columns(table, existing):
            self.conn.execute(f"ALTER TABLE {self._name(table.name)} ADD COLUMN {self.q(name)} {self.column_type(kind)}")

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
