"""Shared fixtures. Every store-backed test runs twice: on an embedded DuckDB file and on PostgreSQL.

PostgreSQL is expected at ``LEDGER_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets its own schema, dropped afterwards. When PostgreSQL cannot be reached the PostgreSQL half
fails loudly (it is not skipped), unless ``LEDGER_TEST_SKIP_POSTGRES=1`` is set on a developer machine.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store

PG_URL = os.environ.get("LEDGER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("DAGSTER_TELEMETRY_DISABLED", "true")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("LEDGER_TEST_SKIP_POSTGRES") == "1":
            pytest.skip(f"PostgreSQL unreachable and LEDGER_TEST_SKIP_POSTGRES=1: {exc}")
        pytest.fail(f"PostgreSQL is required at {PG_URL} and could not be reached: {exc}", pytrace=False)


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A PostgreSQL store URL on a fresh schema of its own; the schema is dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_schema_url():
    """``pg_schema`` as a fixture."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def duckdb_url(tmp_path):
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}"


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request):
    """The URL of an empty store, on each engine in turn."""
    if request.param == "duckdb":
        return request.getfixturevalue("duckdb_url")
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def store(store_url) -> Store:
    """An initialised store (schema + the default ledger ``main``), on each engine in turn."""
    store = Store(store_url)
    initialize_store(store)
    return store
