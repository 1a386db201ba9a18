"""Snowflake (fakesnow server + snowflake-connector-python), BigQuery (bqemulator + google-cloud-bigquery)
and Redshift (S3 on moto's server, SQL parsed with sqlglot's redshift dialect, staging and MERGE run on
PostgreSQL): initial load, no-op re-sync, incremental changes, equality with the ledger; from a DuckDB store
and from a PostgreSQL store."""

from __future__ import annotations

import boto3
import psycopg
import pytest
import sqlglot
from sqlglot import exp

from ledger_pipeline.warehouse import sync_target
from tests.conftest import PG_URL
from tests.warehouse.conftest import assert_equal_to_ledger, post, settle_pending
from tests.warehouse.emulated import RedshiftOnPostgres, bigquery_target, redshift_target, snowflake_target
from tests.warehouse.objects import OBJECT_TABLES, populate_objects
from tests.warehouse.settle import wait_until_settled

pytestmark = pytest.mark.slow


def _exercise(store, target, destination_factory=lambda: None):
    populate_objects(store)  # accounts, statements, payment orders, reconciliation, quarantine, categories
    wait_until_settled(store)
    first = sync_target(store, target, destination=destination_factory())
    with store.connect() as conn:
        transactions = conn.scalar("SELECT count(*) FROM ledger_transactions")
    assert first.rows["ledger_transactions"] == transactions > 300
    assert not [t for t in OBJECT_TABLES if not first.rows[t]]
    assert_equal_to_ledger(store, target, destination_factory())
    assert sync_target(store, target, destination=destination_factory()).total_rows == 0

    batch = post(store, 30, seed=7, prefix="c", pending_every=3)
    settle_pending(store, batch)
    wait_until_settled(store)
    moved = sync_target(store, target, destination=destination_factory())
    assert moved.rows["ledger_transactions"] == 30 and moved.rows["ledger_entries"] == batch.num_rows
    assert_equal_to_ledger(store, target, destination_factory())
    assert sync_target(store, target, destination=destination_factory()).total_rows == 0


def test_snowflake_on_fakesnow(ledger, snowflake_server):
    _exercise(ledger, snowflake_target(snowflake_server))


def test_snowflake_merge_statements_parse_as_snowflake():
    from ledger_pipeline.warehouse.snowflake import SnowflakeDestination
    from ledger_pipeline.warehouse.tables import EXPORT_TABLES

    for strategy in ("merge", "delete_insert"):
        target = snowflake_target({})
        destination = SnowflakeDestination(type(target)(target.name, target.type,
                                                        {**target.options, "merge_strategy": strategy}))
        for table in EXPORT_TABLES:
            for statement in destination.merge_statements(table):
                parsed = sqlglot.parse_one(statement, read="snowflake")
                assert isinstance(parsed, exp.Merge if strategy == "merge" else (exp.Delete, exp.Insert))


def test_bigquery_on_bqemulator(ledger, bigquery_endpoint):
    _exercise(ledger, bigquery_target(bigquery_endpoint))


def test_bigquery_script_parses_as_bigquery():
    from ledger_pipeline.warehouse.bigquery import BigQueryDestination
    from ledger_pipeline.warehouse.tables import EXPORT_TABLES

    destination = BigQueryDestination(bigquery_target("http://127.0.0.1:1"))
    for table in EXPORT_TABLES:
        statements = sqlglot.parse(destination.merge_script(table, 10, 5), read="bigquery")
        kinds = [type(s) for s in statements if s is not None]
        assert kinds.count(exp.Merge) == 2  # the rows, then the position


@pytest.fixture
def redshift(s3_endpoint):
    target = redshift_target(s3_endpoint, "ledger-wh")
    made = []

    def factory():
        made.append(RedshiftOnPostgres(target))
        return made[-1]

    yield target, factory, made
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{target.options["schema"]}" CASCADE')


def test_redshift_s3_copy_merge(ledger, redshift):
    target, factory, made = redshift
    _exercise(ledger, target, factory)

    statements = [s for d in made for s in d.statements]
    kinds = {}
    for statement in statements:
        parsed = sqlglot.parse_one(statement, read="redshift")
        kinds.setdefault(type(parsed).__name__, []).append(statement)
        if isinstance(parsed, exp.Command):
            assert statement.startswith("LOCK "), statement  # Redshift's LOCK: sqlglot keeps it as a command
    assert {"Copy", "Merge", "Create", "Insert", "Delete", "Select"} <= set(kinds)
    assert all("FORMAT AS PARQUET" in s and "s3://ledger-wh/sync/" in s for s in kinds["Copy"])
    # every staged object was deleted after its commit
    s3 = boto3.client("s3", endpoint_url=target.options["s3_endpoint_url"], region_name="us-east-1")
    assert s3.list_objects_v2(Bucket="ledger-wh", Prefix="sync/").get("KeyCount", 0) == 0
