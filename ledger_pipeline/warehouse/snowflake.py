"""Snowflake destination: ``PUT`` a Parquet file to an internal stage, ``COPY INTO`` a temporary table, then
``MERGE`` by primary key and move the position inside one ``BEGIN ... COMMIT`` (Snowflake commits DDL
implicitly, so the staging DDL runs before the transaction opens). The staging table is a transient table
``_STAGE_<TABLE>``, replaced by each sync (a temporary table would do on Snowflake, but fakesnow's
``COPY INTO`` cannot see temporary tables, and one code path is what gets tested).

Identifiers are left unquoted, so Snowflake stores them upper-case (``LEDGER_ENTRIES``) and dbt-snowflake's
default (unquoted) source names resolve to them. Staged files get a unique name per run and are removed
after the commit; a file left by a killed sync is never read again.

Merge strategy (option ``merge_strategy``): ``merge`` (default) runs ``MERGE INTO`` for the rows and for the
position; ``delete_insert`` runs ``DELETE ... USING`` + ``INSERT ... SELECT`` (the same result by primary
key, also in the one transaction). fakesnow cannot run ``MERGE`` inside an explicit transaction (its MERGE
writes to its own catalog database, and DuckDB allows one written database per transaction), so the emulator
tests run ``delete_insert``; ``merge`` is parsed with sqlglot's snowflake dialect there and run for real by
the contract test when credentials are set.

Options: ``account``, ``user``, ``password`` (use ``${ENV}``), ``database``, ``schema`` (default ``LEDGER``),
``warehouse``, ``role``; ``connect_args`` (a mapping passed to ``snowflake.connector.connect`` as is, e.g.
``host``/``port``/``protocol`` for an emulator).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ledger_pipeline.warehouse.base import Destination, fault_point
from ledger_pipeline.warehouse.config import resolve_env
from ledger_pipeline.warehouse.tables import STATE_COLUMNS, STATE_TABLE, ExportTable, descriptions, sql_string

STAGE_NAME = "LEDGER_SYNC_STAGE"


class SnowflakeDestination(Destination):
    dialect = "snowflake"

    def __init__(self, config):
        super().__init__(config)
        import snowflake.connector.errors as sferrors

        self.transient_errors = (sferrors.OperationalError, sferrors.ServiceUnavailableError,
                                 ConnectionError, TimeoutError)
        self.database = str(config.option("database", required=True))
        self.schema = str(config.option("schema", "LEDGER"))
        self.q(self.database), self.q(self.schema)
        self.merge_strategy = str(config.option("merge_strategy", "merge"))
        if self.merge_strategy not in ("merge", "delete_insert"):
            raise ValueError(f"target {config.name!r}: merge_strategy must be merge or delete_insert")
        self.conn = None

    def q(self, name: str) -> str:
        """Validated and unquoted (Snowflake folds it to upper case, as dbt expects)."""
        return super().q(name).strip('"')

    def comment_sql(self, table_name, columns, qualified, existing=None) -> list[str]:
        """Snowflake's ``ALTER TABLE ... SET COMMENT`` / ``ALTER COLUMN ... COMMENT`` (the same effect as
        ``COMMENT ON``, which fakesnow's server cannot describe)."""
        table_text, column_texts = descriptions(table_name, tuple(columns))
        return [f"ALTER TABLE {qualified} SET COMMENT = {sql_string(table_text)}"] + [
            f"ALTER TABLE {qualified} ALTER COLUMN {self.q(name)} COMMENT {sql_string(text)}"
            for name, text in column_texts.items()]

    def describe(self) -> str:
        account = self.config.options.get("account", "?")
        return f"snowflake account {account}, {self.database}.{self.schema}"

    def open(self) -> None:
        import snowflake.connector

        kwargs = {key: self.config.option(key) for key in ("account", "user", "password", "warehouse", "role")
                  if self.config.options.get(key) is not None}
        for key, value in dict(self.config.options.get("connect_args") or {}).items():
            kwargs[key] = resolve_env(value, self.config.name, f"connect_args.{key}")
        self.conn = snowflake.connector.connect(database=self.database, **kwargs)
        cur = self.conn.cursor()
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {self.q(self.database)}.{self.q(self.schema)}")
        cur.execute(f"USE SCHEMA {self.q(self.database)}.{self.q(self.schema)}")
        cur.execute(f"CREATE STAGE IF NOT EXISTS {STAGE_NAME}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def positions(self) -> dict[str, int]:
        cur = self.conn.cursor()
        cur.execute(self.state_table_sql(self.q(STATE_TABLE)))
        for statement in self.comment_sql(STATE_TABLE, STATE_COLUMNS, self.q(STATE_TABLE)):
            cur.execute(statement)
        cur.execute(f"SELECT table_name, position FROM {self.q(STATE_TABLE)}")
        return {name: int(position) for name, position in cur.fetchall()}

    def ensure_table(self, table: ExportTable) -> None:
        cur = self.conn.cursor()
        cur.execute(self.create_table_sql(table, self.q(table.name)))
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                    (self.schema.upper(), table.name.upper()))
        existing = {row[0] for row in cur.fetchall()}
        for name, kind in self.missing_columns(table, existing):
            cur.execute(f"ALTER TABLE {self.q(table.name)} ADD COLUMN {self.q(name)} {self.column_type(kind)}")
        for statement in self.comment_sql(table.name, table.all_columns, self.q(table.name)):
            cur.execute(statement)

    def _state_merge(self) -> str:
        return (
            f"MERGE INTO {self.q(STATE_TABLE)} t USING (SELECT %s AS table_name, %s AS position, %s AS rows_last_sync, "
            "CURRENT_TIMESTAMP() AS synced_at) s ON t.table_name = s.table_name "
            "WHEN MATCHED THEN UPDATE SET position = s.position, rows_last_sync = s.rows_last_sync, "
            "synced_at = s.synced_at WHEN NOT MATCHED THEN INSERT (table_name, position, rows_last_sync, synced_at) "
            "VALUES (s.table_name, s.position, s.rows_last_sync, s.synced_at)"
        )

    def merge_statements(self, table: ExportTable) -> list[str]:
        """The statements that merge the staged rows by primary key (inside the transaction)."""
        target, stage = self.q(table.name), self.q(f"_stage_{table.name}")
        if self.merge_strategy == "merge":
            return [self.merge_sql(table, target, stage)]
        on = " AND ".join(f"{target}.{self.q(c)} = s.{self.q(c)}" for c in table.primary_key)
        cols = ", ".join(self.q(c) for c in table.column_names)
        return [f"DELETE FROM {target} USING {stage} s WHERE {on}",
                f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}"]

    def _set_position(self, cur, table: ExportTable, position: int, rows: int) -> None:
        if self.merge_strategy == "merge":
            cur.execute(self._state_merge(), (table.name, position, rows))
            return
        state = self.q(STATE_TABLE)
        cur.execute(f"DELETE FROM {state} WHERE table_name = %s", (table.name,))
        cur.execute(f"INSERT INTO {state} (table_name, position, rows_last_sync, synced_at) "
                    "SELECT %s, %s, %s, CURRENT_TIMESTAMP()", (table.name, position, rows))

    def staging_sql(self, table: ExportTable, local_file: Path, stage_path: str) -> list[str]:
        stage_table = self.q(f"_stage_{table.name}")
        return [
            f"PUT 'file://{local_file.as_posix()}' @{STAGE_NAME}/{stage_path} AUTO_COMPRESS=FALSE OVERWRITE=TRUE",
            f"CREATE OR REPLACE TRANSIENT TABLE {stage_table} ({self.column_defs(table.all_columns)})",
            f"COPY INTO {stage_table} FROM @{STAGE_NAME}/{stage_path}/{local_file.name} "
            "FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE",
        ]

    def write(self, table: ExportTable, data: pa.Table, position: int) -> None:
        cur = self.conn.cursor()
        stage_path = table.name
        with tempfile.TemporaryDirectory(prefix="ledger_sync_") as tmp:
            local_file = Path(tmp) / f"{table.name}_{uuid.uuid4().hex}.parquet"
            pq.write_table(data, local_file)
            for statement in self.staging_sql(table, local_file, stage_path):
                cur.execute(statement)
        fault_point("after_stage", table.name)
        cur.execute("BEGIN")
        try:
            for statement in self.merge_statements(table):
                cur.execute(statement)
                fault_point("during_merge", table.name)
            self._set_position(cur, table, position, data.num_rows)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        try:
            cur.execute(f"DROP TABLE IF EXISTS {self.q(f'_stage_{table.name}')}")
            cur.execute(f"REMOVE @{STAGE_NAME}/{stage_path}/{local_file.name}")
        except Exception:  # noqa: BLE001 - a leftover staged file is harmless (never read again)
            pass

    def record_position(self, table: ExportTable, position: int) -> None:
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        self._set_position(cur, table, position, 0)
        cur.execute("COMMIT")

    def fetch_rows(self, table_name: str) -> list[dict]:
        """Every row of a destination table (for verification: tests, contract checks)."""
        cur = self.conn.cursor()
        cur.execute(f"SELECT * FROM {self.q(table_name)}")
        names = [d[0].lower() for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
