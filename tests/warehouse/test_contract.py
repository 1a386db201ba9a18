"""Contract tests against real warehouses. Each runs only when its credentials are set in the environment
(nothing is skipped silently: the skip reason names the variables). Every test syncs a small ledger into a
scratch schema/dataset of its own, checks that each table equals the ledger, that a second sync moves
nothing, and drops the scratch schema.

* PostgreSQL: ``WAREHOUSE_TEST_PG_URL``
* Redshift: ``WAREHOUSE_TEST_REDSHIFT_URL``, ``WAREHOUSE_TEST_REDSHIFT_S3_BUCKET``,
  ``WAREHOUSE_TEST_REDSHIFT_IAM_ROLE`` (+ AWS credentials for the upload, boto3's usual chain)
* BigQuery: ``WAREHOUSE_TEST_BQ_PROJECT`` (+ ``GOOGLE_APPLICATION_CREDENTIALS``)
* Snowflake: ``WAREHOUSE_TEST_SNOWFLAKE_ACCOUNT``, ``_USER``, ``_PASSWORD``, ``_DATABASE``, ``_WAREHOUSE``
"""

from __future__ import annotations

import os
import uuid

import pytest

from ledger_pipeline.warehouse import TargetConfig, create_destination, sync_target
from tests.warehouse.conftest import assert_equal_to_ledger


def _require(*names: str) -> None:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.skip(f"contract test needs {', '.join(missing)}")


def _scratch() -> str:
    return f"wh_contract_{uuid.uuid4().hex[:8]}"


def _exercise(store, target: TargetConfig, drop_sql: str) -> None:
    try:
        first = sync_target(store, target)
        assert first.rows["ledger_transactions"] == 300
        assert_equal_to_ledger(store, target)
        assert sync_target(store, target).total_rows == 0
    finally:
        destination = create_destination(target)
        destination.open()
        try:
            if destination.dialect == "bigquery":
                destination.client.delete_dataset(destination.dataset, delete_contents=True, not_found_ok=True)
            elif destination.dialect == "snowflake":
                destination.conn.cursor().execute(drop_sql)
            else:
                destination.conn.execute(drop_sql)
        finally:
            destination.close()


def test_contract_postgres(duckdb_ledger):
    _require("WAREHOUSE_TEST_PG_URL")
    schema = _scratch()
    target = TargetConfig("pg", "postgres", {"url": "${WAREHOUSE_TEST_PG_URL}", "schema": schema})
    _exercise(duckdb_ledger, target, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_contract_redshift(duckdb_ledger):
    _require("WAREHOUSE_TEST_REDSHIFT_URL", "WAREHOUSE_TEST_REDSHIFT_S3_BUCKET", "WAREHOUSE_TEST_REDSHIFT_IAM_ROLE")
    schema = _scratch()
    target = TargetConfig("redshift", "redshift", {
        "url": "${WAREHOUSE_TEST_REDSHIFT_URL}", "schema": schema, "s3_bucket": "${WAREHOUSE_TEST_REDSHIFT_S3_BUCKET}",
        "iam_role": "${WAREHOUSE_TEST_REDSHIFT_IAM_ROLE}", "region": os.environ.get("AWS_DEFAULT_REGION")})
    _exercise(duckdb_ledger, target, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_contract_bigquery(duckdb_ledger):
    _require("WAREHOUSE_TEST_BQ_PROJECT")
    target = TargetConfig("bigquery", "bigquery", {"project": "${WAREHOUSE_TEST_BQ_PROJECT}", "dataset": _scratch()})
    _exercise(duckdb_ledger, target, "")


def test_contract_snowflake(duckdb_ledger):
    _require("WAREHOUSE_TEST_SNOWFLAKE_ACCOUNT", "WAREHOUSE_TEST_SNOWFLAKE_USER", "WAREHOUSE_TEST_SNOWFLAKE_PASSWORD",
             "WAREHOUSE_TEST_SNOWFLAKE_DATABASE", "WAREHOUSE_TEST_SNOWFLAKE_WAREHOUSE")
    schema = _scratch().upper()
    target = TargetConfig("snowflake", "snowflake", {
        "account": "${WAREHOUSE_TEST_SNOWFLAKE_ACCOUNT}", "user": "${WAREHOUSE_TEST_SNOWFLAKE_USER}",
        "password": "${WAREHOUSE_TEST_SNOWFLAKE_PASSWORD}", "database": os.environ.get("WAREHOUSE_TEST_SNOWFLAKE_DATABASE", "X"),
        "warehouse": "${WAREHOUSE_TEST_SNOWFLAKE_WAREHOUSE}", "schema": schema})
    _exercise(duckdb_ledger, target, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
