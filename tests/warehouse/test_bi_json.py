"""``metadata`` is published as the destination's JSON type (DuckDB JSON, PostgreSQL jsonb), also in
tables an older sync created with text."""

from __future__ import annotations

import duckdb
import psycopg

from ledger_pipeline.warehouse.tables import EXPORT_TABLES
from tests.conftest import PG_URL
from tests.warehouse.conftest import assert_equal_to_ledger, post, sync

JSON_TABLES = sorted(t.name for t in EXPORT_TABLES if ("metadata", "json") in t.columns)


def _types(target) -> dict[str, str]:
    """{table: type of its metadata column}."""
    if target.type == "duckdb":
        with duckdb.connect(target.options["path"], read_only=True) as conn:
            return dict(conn.execute(
                "SELECT table_name, data_type FROM duckdb_columns() WHERE column_name = 'metadata' "
                "AND schema_name = 'main' AND database_name = current_database()").fetchall())
    with psycopg.connect(PG_URL) as conn:
        return dict(conn.execute(
            "SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'metadata' "
            "AND table_schema = %s", (target.options["schema"],)).fetchall())


def _query(target, sql: str):
    if target.type == "duckdb":
        with duckdb.connect(target.options["path"], read_only=True) as conn:
            return conn.execute(sql.format(schema="main")).fetchall()
    with psycopg.connect(PG_URL) as conn:
        return conn.execute(sql.format(schema=f'"{target.options["schema"]}"')).fetchall()


def test_metadata_is_the_warehouse_json_type(duckdb_ledger, warehouse):
    assert JSON_TABLES == ["external_accounts", "internal_accounts", "ledger_account_categories",
                           "ledger_accounts", "ledger_transactions", "ledgers", "payment_orders"]
    sync(duckdb_ledger, warehouse)
    wanted = "JSON" if warehouse.type == "duckdb" else "jsonb"
    assert _types(warehouse) == dict.fromkeys(JSON_TABLES, wanted)
    # JSON operators work on the column as it is, no cast
    rows = _query(warehouse, "SELECT count(*), count(metadata ->> 'no_such_key') FROM {schema}.ledger_accounts")
    assert rows == [(48, 0)]
    assert_equal_to_ledger(duckdb_ledger, warehouse)


def test_text_metadata_of_an_older_sync_is_converted(duckdb_ledger, warehouse):
    sync(duckdb_ledger, warehouse)
    if warehouse.type == "duckdb":
        with duckdb.connect(warehouse.options["path"]) as conn:
            for table in JSON_TABLES:
                conn.execute(f"ALTER TABLE main.{table} ALTER COLUMN metadata TYPE VARCHAR")
    else:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for table in JSON_TABLES:
                conn.execute(f'ALTER TABLE "{warehouse.options["schema"]}".{table} ALTER COLUMN metadata TYPE text')
    assert set(_types(warehouse).values()) == ({"VARCHAR"} if warehouse.type == "duckdb" else {"text"})
    post(duckdb_ledger, 5, seed=11, prefix="j")
    assert sync(duckdb_ledger, warehouse).rows["ledger_transactions"] == 5
    assert set(_types(warehouse).values()) == ({"JSON"} if warehouse.type == "duckdb" else {"jsonb"})
    assert_equal_to_ledger(duckdb_ledger, warehouse)
