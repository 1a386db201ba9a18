"""Fixtures for the warehouse sync: a ledger with some history, destinations, and the equality check
"each destination table equals the ledger" (``tests.warehouse.oracle``: every row and column, read from the
store with plain SQL of its own)."""

from __future__ import annotations

import shutil
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import boto3
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.generate import bench_accounts, generate_batch
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.posting import post_batch
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.warehouse import EXPORT_TABLES, TargetConfig, create_destination
from ledger_pipeline.warehouse.extract import table_exists
from tests.conftest import PG_URL, new_store
from tests.warehouse.emulators import bigquery_emulator, fakesnow_server, moto_server
from tests.warehouse.oracle import assert_warehouse_equals_store

NO_RETRY = {"attempts": 1}


# -- emulators, one process each per test session

@pytest.fixture(scope="session")
def snowflake_server(tmp_path_factory):
    # The connector probes cloud metadata endpoints (AWS, Azure, GCP) on every login to report the client's
    # platform; next to a local emulator that only costs each connection (and each CLI run) its timeouts.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
        with fakesnow_server(tmp_path_factory.mktemp("fakesnow")) as server:
            yield server


@pytest.fixture(scope="session")
def bigquery_endpoint(tmp_path_factory):
    with bigquery_emulator(tmp_path_factory.mktemp("bq")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            mp.setenv(key, value)
        with moto_server(tmp_path_factory.mktemp("moto")) as endpoint:
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="ledger-wh")
            yield endpoint


def staged(n: int, seed: int, prefix: str, pending_every: int = 0) -> pa.Table:
    """``n`` balanced transactions in the staged (text) shape; every ``pending_every``-th one pending."""
    table = generate_batch(n, seed=seed, prefix=prefix)
    table = table.set_column(table.schema.get_field_index("amount_minor"), "amount_minor",
                             pc.cast(table.column("amount_minor"), pa.string()))
    table = table.set_column(table.schema.get_field_index("effective_at"), "effective_at",
                             pc.strftime(table.column("effective_at"), "%Y-%m-%dT%H:%M:%SZ"))
    if pending_every:
        tx_number = pc.cast(pc.utf8_slice_codeunits(table.column("external_id"), len(prefix) + 1), pa.int64())
        pending = pc.equal(pc.bit_wise_and(tx_number, pending_every - 1), 0) if pending_every & (pending_every - 1) == 0 \
            else pc.equal(pc.subtract(tx_number, pc.multiply(pc.divide(tx_number, pending_every), pending_every)), 0)
        table = table.append_column("status", pc.if_else(pending, "pending", "posted"))
    return table.append_column("line", pa.array(range(1, table.num_rows + 1), pa.int64()))


def open_ledger(store: Store) -> None:
    with store.transaction() as conn:
        for account in bench_accounts():
            ensure_account(conn, "main", AccountSpec(account.name, account.normal_balance, account.currency))


def post(store: Store, n: int, seed: int, prefix: str, pending_every: int = 0) -> pa.Table:
    batch = staged(n, seed, prefix, pending_every)
    result = post_batch(store, batch)
    assert result.created == n and not result.reason_counts, result.as_dict()
    return batch


def settle_pending(store: Store, batch: pa.Table) -> int:
    """Post the pending transactions of ``batch`` (pending -> posted transitions)."""
    pending = batch.filter(pc.equal(batch.column("status"), "pending"))
    result = post_batch(store, pending.set_column(pending.schema.get_field_index("status"), "status",
                                                  pa.array(["posted"] * pending.num_rows)))
    assert result.transitioned > 0 and not result.reason_counts, result.as_dict()
    return result.transitioned


def filled_ledger(store: Store) -> Store:
    """``store`` with the test ledger: 48 accounts, 300 transactions (every 4th pending)."""
    open_ledger(store)
    post(store, 300, seed=1, prefix="a", pending_every=4)
    return store


def new_filled_ledger(url: str) -> Store:
    """A new store at ``url``, initialised and holding the test ledger of ``filled_ledger``."""
    from ledger_pipeline.store_setup import initialize_store

    store = Store(url)
    initialize_store(store)
    return filled_ledger(store)


@pytest.fixture(scope="session")
def duckdb_ledger_template(tmp_path_factory) -> Path:
    """A DuckDB store file holding the test ledger of ``filled_ledger``, made once per worker: the DuckDB
    ledger fixtures copy it instead of posting the same 300 transactions again."""
    path = tmp_path_factory.mktemp("ledger_template") / "ledger.duckdb"
    new_filled_ledger(f"duckdb:///{path}")
    return path


def _copied_ledger(url: str, request: pytest.FixtureRequest) -> Store:
    shutil.copyfile(request.getfixturevalue("duckdb_ledger_template"), url.removeprefix("duckdb:///"))
    return Store(url)


@pytest.fixture
def ledger(store_url: str, request: pytest.FixtureRequest) -> Store:
    """The test ledger on each store engine."""
    if store_url.startswith("duckdb:///"):
        return _copied_ledger(store_url, request)
    return filled_ledger(new_store(store_url, request))


@pytest.fixture
def duckdb_ledger(duckdb_url: str, request: pytest.FixtureRequest) -> Store:
    return _copied_ledger(duckdb_url, request)


@pytest.fixture
def pg_warehouse():
    """A PostgreSQL destination schema of its own (``wh_...``), dropped afterwards."""
    schema = f"wh_{uuid.uuid4().hex[:10]}"
    yield TargetConfig("pg", "postgres", {"url": PG_URL, "schema": schema, "retry": NO_RETRY})
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def duckdb_warehouse(tmp_path):
    return TargetConfig("local", "duckdb", {"path": str(tmp_path / "warehouse.duckdb"), "retry": NO_RETRY})


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request) -> TargetConfig:
    """The two destinations that need no emulator, in turn."""
    return request.getfixturevalue("pg_warehouse" if request.param == "postgres" else "duckdb_warehouse")


# -- equality of the warehouse and the ledger

def _amount(value) -> int:
    return int(Decimal(str(value)))


def summarise(table, rows: list[dict]) -> dict:
    """Row count, {primary key: version}, per-currency sums of each amount column."""
    amount_columns = [name for name, kind in table.columns if kind == "amount"]
    versions = {tuple(str(r[c]) for c in table.primary_key): int(r["_version"]) for r in rows}
    sums: dict = defaultdict(int)
    for r in rows:
        for column in amount_columns:
            if r.get(column) is not None:
                sums[(r.get("currency"), column)] += _amount(r[column])
    return {"rows": len(rows), "versions": versions, "sums": dict(sums)}


def warehouse_state(target: TargetConfig, destination=None, tables=None) -> dict:
    """``summarise`` of each destination table that exists (``tables``: these names only; default all)."""
    destination = destination or create_destination(target)
    destination.open()
    try:
        state = {}
        for t in EXPORT_TABLES:
            if tables is None or t.name in tables:
                rows = _rows_if_present(destination, t.name)
                if rows is not None:
                    state[t.name] = summarise(t, rows)
        return state
    finally:
        destination.close()


def _rows_if_present(destination, name: str) -> list[dict] | None:
    """The table's rows, or None when the destination has no such table."""
    try:
        return destination.fetch_rows(name)
    except Exception:  # noqa: BLE001 - "no such table" differs per destination
        if destination.dialect in ("postgres", "redshift"):
            destination.conn.rollback()
        return None


def assert_equal_to_ledger(store: Store, target: TargetConfig, destination=None) -> None:
    """Every destination table equals the store's table (``tests.warehouse.oracle``: plain SQL over the
    store, independent of the sync's extract), row by row and column by column."""
    fakesnow = target.type == "snowflake" and target.options.get("account") == "fakesnow"
    assert_warehouse_equals_store(store, destination or create_destination(target), null_instant_reads_as_epoch=fakesnow)


def max_change_seq(store: Store) -> int:
    with store.connect() as conn:
        tables = [t.source_table for t in EXPORT_TABLES if table_exists(conn, t.source_table)]
        return int(conn.scalar("SELECT max(m) FROM (" + " UNION ALL ".join(
            f'SELECT max(change_seq) AS m FROM "{t}"' for t in tables) + ") u") or 0)


class Moved:
    def __init__(self, results):
        self.results = results
        self.rows: dict = defaultdict(int)
        for result in results:
            for table, rows in result.rows.items():
                self.rows[table] += rows
        self.total_rows = sum(self.rows.values())


def sync(store: Store, target: TargetConfig, timeout: float = 600.0, **kwargs) -> Moved:
    """Sync until the store's watermark has passed every write made so far. On PostgreSQL the watermark is
    the cluster-wide snapshot xmin, so a transaction open elsewhere on the shared server (other test runs)
    can hold it back for a while: the sync then moves those rows on a later run, as designed."""
    import time

    from ledger_pipeline.warehouse import sync_target

    goal = max_change_seq(store)
    deadline = time.monotonic() + timeout
    results = [sync_target(store, target, **kwargs)]
    while results[-1].watermark <= goal:
        assert time.monotonic() < deadline, f"watermark {results[-1].watermark} stuck below {goal}"
        time.sleep(0.5)
        results.append(sync_target(store, target, **kwargs))
    return Moved(results)
