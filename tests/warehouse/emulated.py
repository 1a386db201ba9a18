"""Target configurations for the emulated destinations, shared by the emulator and fault tests."""

from __future__ import annotations

import io
import uuid

import pyarrow.parquet as pq

from ledger_pipeline.warehouse import TargetConfig
from ledger_pipeline.warehouse.postgres import copy_arrow
from ledger_pipeline.warehouse.redshift import RedshiftDestination
from tests.conftest import PG_URL

NO_RETRY = {"attempts": 1}


def snowflake_target(server: dict) -> TargetConfig:
    # fakesnow cannot MERGE inside an explicit transaction (see warehouse/snowflake.py): delete_insert here.
    return TargetConfig("snowflake", "snowflake", {
        "account": "fakesnow", "user": "fake", "password": "snow", "database": "WHDB",
        "schema": f"WH_{uuid.uuid4().hex[:8].upper()}", "merge_strategy": "delete_insert",
        "connect_args": server, "retry": NO_RETRY})


def bigquery_target(endpoint: str) -> TargetConfig:
    # bqemulator maps BIGNUMERIC to DECIMAL(76,38), which its DuckDB cannot create: NUMERIC here.
    return TargetConfig("bigquery", "bigquery", {
        "project": "wh-test", "dataset": f"wh_{uuid.uuid4().hex[:8]}", "api_endpoint": endpoint,
        "anonymous": True, "amount_type": "NUMERIC", "retry": NO_RETRY})


def redshift_target(s3_endpoint: str, bucket: str) -> TargetConfig:
    return TargetConfig("redshift", "redshift", {
        "url": PG_URL, "schema": f"wh_rs_{uuid.uuid4().hex[:8]}", "s3_bucket": bucket, "s3_prefix": "sync",
        "iam_role": "arn:aws:iam::123456789012:role/ledger-sync", "region": "us-east-1",
        "s3_endpoint_url": s3_endpoint, "retry": NO_RETRY})


class RedshiftOnPostgres(RedshiftDestination):
    """The Redshift destination with its SQL run on PostgreSQL 15 (which has MERGE). The one step that
    PostgreSQL cannot run, ``COPY ... FROM 's3://...' FORMAT AS PARQUET``, is recorded (so it is parsed with
    the other statements) and carried out by reading the same object from S3 (moto) into the staging table."""

    def copy_from_s3(self, cur, stage: str, key: str, table) -> None:
        self.statements.append(self.copy_sql(stage, key))
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        data = pq.read_table(io.BytesIO(body))
        assert data.column_names == list(table.column_names)
        copy_arrow(cur, stage, ", ".join(self.q(c) for c in table.column_names), data)
