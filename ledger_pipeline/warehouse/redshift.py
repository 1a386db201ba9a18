"""Amazon Redshift destination: Parquet to S3 (boto3), ``COPY ... FORMAT AS PARQUET`` into a temporary
table, ``MERGE`` by primary key, and the position, in one transaction (Redshift runs COPY and MERGE inside
transactions). The S3 object gets a unique key per run and is deleted after the commit.

Redshift speaks the PostgreSQL wire protocol; the connection is psycopg. Options: ``url`` (libpq URL of the
cluster; the password via ``${ENV}``), ``schema`` (default ``ledger``), ``s3_bucket``, ``s3_prefix``
(default ``ledger-sync``), ``iam_role`` (the ARN Redshift assumes to read the bucket), ``region``;
``s3_endpoint_url`` for an S3-compatible endpoint. AWS credentials for the upload come from boto3's usual
chain (environment, profile, instance role).
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from ledger_pipeline.warehouse.base import fault_point
from ledger_pipeline.warehouse.postgres import PsycopgDestination
from ledger_pipeline.warehouse.tables import STATE_COLUMNS, STATE_TABLE, ExportTable

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9_./-]*$")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$")


class RedshiftDestination(PsycopgDestination):
    dialect = "redshift"
    default_host = "?"
    default_port = 5439

    def __init__(self, config):
        super().__init__(config)
        self.bucket = str(config.option("s3_bucket", required=True))
        self.prefix = str(config.option("s3_prefix", "ledger-sync")).strip("/")
        self.iam_role = str(config.option("iam_role", required=True))
        self.region = config.option("region")
        self.s3_endpoint_url = config.option("s3_endpoint_url")
        if not _BUCKET.match(self.bucket) or not _PREFIX.match(self.prefix):
            raise ValueError(f"target {config.name!r}: invalid s3_bucket or s3_prefix")
        if not _ROLE.match(self.iam_role):
            raise ValueError(f"target {config.name!r}: iam_role must be an IAM role ARN")
        self.q(self.schema)
        self.s3 = None
        self.statements: list[str] = []  # every SQL statement sent, in order (the tests parse them)

    def open(self) -> None:
        import boto3

        self.s3 = boto3.client("s3", region_name=self.region, endpoint_url=self.s3_endpoint_url)
        self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        self._exec(self.conn, f"CREATE SCHEMA IF NOT EXISTS {self.q(self.schema)}")

    def _exec(self, cur, sql: str, params=None):
        self.statements.append(sql)
        return cur.execute(sql, params)

    def positions(self) -> dict[str, int]:
        self._exec(self.conn, self.state_table_sql(self._name(STATE_TABLE)))
        self._comment(STATE_TABLE, STATE_COLUMNS)
        rows = self._exec(self.conn, f"SELECT table_name, position FROM {self._name(STATE_TABLE)}").fetchall()
        return {name: int(position) for name, position in rows}

    def ensure_table(self, table: ExportTable) -> None:
        self._exec(self.conn, self.create_table_sql(table, self._name(table.name)))
        existing = {r[0] for r in self._exec(
            self.conn, "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema, table.name)).fetchall()}
        for name, kind in self.missing_columns(table, existing):
            self._exec(self.conn, f"ALTER TABLE {self._name(table.name)} ADD COLUMN {self.q(name)} {self.column_type(kind)}")
        self._comment(table.name, table.all_columns)

    def _comment(self, table_name: str, columns) -> None:
        """The registry's comments, set where ``pg_description`` shows another."""
        existing = dict(self._exec(
            self.conn, "SELECT a.attname, d.description FROM pg_catalog.pg_description d "
            "JOIN pg_catalog.pg_class c ON c.oid = d.objoid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
            "WHERE n.nspname = %s AND c.relname = %s", (self.schema, table_name)).fetchall())
        for statement in self.comment_sql(table_name, columns, self._name(table_name), existing):
            self._exec(self.conn, statement)

    def copy_sql(self, stage: str, key: str) -> str:
        if not _PREFIX.match(key):
            raise ValueError(f"unexpected S3 key {key!r}")
        return f"COPY {stage} FROM 's3://{self.bucket}/{key}' IAM_ROLE '{self.iam_role}' FORMAT AS PARQUET"

    def copy_from_s3(self, cur, stage: str, key: str, table: ExportTable) -> None:
        """Load the staged Parquet object into the staging table (Redshift reads S3 itself)."""
        self._exec(cur, self.copy_sql(stage, key))

    def _set_position(self, cur, table: ExportTable, position: int, rows: int) -> None:
        state = self._name(STATE_TABLE)
        self._exec(cur, f"DELETE FROM {state} WHERE table_name = %s", (table.name,))
        self._exec(cur, f"INSERT INTO {state} (table_name, position, rows_last_sync, synced_at) "
                        "VALUES (%s, %s, %s, %s)", (table.name, position, rows, datetime.now(UTC)))

    def write(self, table: ExportTable, data: pa.Table, position: int) -> None:
        key = f"{self.prefix}/{table.name}/{uuid.uuid4().hex}.parquet".lstrip("/")
        buffer = io.BytesIO()
        pq.write_table(data, buffer)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buffer.getvalue())
        stage = self.q(f"_stage_{table.name}")
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._exec(cur, f"LOCK {self._name(STATE_TABLE)}")  # one sync at a time per schema
            self._exec(cur, f"CREATE TEMPORARY TABLE {stage} ({self.column_defs(table.all_columns)})")
            self.copy_from_s3(cur, stage, key, table)
            fault_point("after_stage", table.name)
            self._exec(cur, self.merge_sql(table, self._name(table.name), stage))
            fault_point("during_merge", table.name)
            self._set_position(cur, table, position, data.num_rows)
            self._exec(cur, f"DROP TABLE {stage}")
        self.s3.delete_object(Bucket=self.bucket, Key=key)

