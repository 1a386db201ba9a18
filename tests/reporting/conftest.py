"""Fixtures for the reporting tests: a ledger with the scenario, synced to a warehouse, and a dbt runner.

Each test gets its own warehouse (a DuckDB file, or a pair of PostgreSQL schemas prefixed ``rpt_``) and its
own dbt target/log folders, so tests can run in parallel with each other and with other packages' tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from ledger_pipeline import paths
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from tests.conftest import PG_URL
from tests.reporting import scenario, warehouse_copy

DBT = str(Path(sys.executable).parent / "dbt")
PARTIAL_PARSE = "partial_parse.msgpack"
# dbt's parse state, kept per engine for this worker: a test's first dbt command starts from it instead of a
# full parse of the project. dbt checks the saved state against the project's files, the variables, the
# profile's connection values and the environment variables the project reads, and parses again what
# differs, so a stale copy costs time, never a wrong manifest. To keep it valid from one test to the next,
# every test of a worker gives dbt the same warehouse path text (DuckDB, relative to the test's folder) and
# the same schema name (PostgreSQL; dropped after each test).
_PARSE_CACHE = Path()
_WORKER_SCHEMA = uuid.uuid4().hex[:10]


@pytest.fixture(scope="session", autouse=True)
def _dbt_parse_cache(tmp_path_factory):
    global _PARSE_CACHE
    _PARSE_CACHE = tmp_path_factory.mktemp("dbt_parse")


@dataclass
class DbtRun:
    returncode: int
    output: str


@dataclass
class Warehouse:
    """A warehouse filled by the sync, and how to run dbt against it."""

    kind: str  # duckdb | postgres
    store: Store
    target: object
    env: dict[str, str]
    work_dir: Path
    reporting_schema: str
    cleanup: list = field(default_factory=list)

    def sync(self):
        return warehouse_copy.sync(self.store, self.target)

    def sync_until_caught_up(self, timeout_s: float = 600.0) -> None:
        """Sync until the warehouse holds every entry of the ledger.

        On PostgreSQL the sync moves only rows below the oldest running transaction's id (its safe
        watermark), and this server is shared with other test runs: one may hold a transaction open for a
        while, and a sync then rightly moves nothing yet. Sync again until it has caught up (a benchmark's
        transaction of several minutes on the same server has been seen here).
        """
        with self.store.connect() as conn:
            expected = conn.scalar("SELECT count(*) FROM ledger_entries")
        deadline = time.monotonic() + timeout_s
        while True:
            self.sync()
            source = "main" if self.kind == "duckdb" else self.env["LEDGER_WAREHOUSE_SCHEMA"]
            synced = self.query(f"SELECT count(*) FROM {source}.ledger_entries")[0][0]
            if synced == expected:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the sync did not catch up in {timeout_s:.0f}s ({synced} of {expected} entries)")
            time.sleep(1)

    def dbt(self, *args: str, check: bool = True, project_dir: Path = paths.DBT_PROJECT_DIR) -> DbtRun:
        env = {**os.environ, **self.env}
        if self.kind == "duckdb":  # relative to the working directory below, the same text for every test
            env["LEDGER_WAREHOUSE_PATH"] = Path(self.env["LEDGER_WAREHOUSE_PATH"]).name
        saved = self.work_dir / "target" / PARTIAL_PARSE
        cached = _PARSE_CACHE / f"{self.kind}-{PARTIAL_PARSE}"
        if not saved.exists() and cached.exists():
            saved.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cached, saved)
        command = [DBT, *args, "--project-dir", str(project_dir),
                   "--profiles-dir", str(project_dir), "--target-path", str(self.work_dir / "target")]
        done = subprocess.run(command, cwd=self.work_dir, env=env, capture_output=True, text=True, timeout=900)
        run = DbtRun(done.returncode, done.stdout + done.stderr)
        if done.returncode == 0 and project_dir == paths.DBT_PROJECT_DIR and saved.exists() and not cached.exists():
            shutil.copyfile(saved, cached)
        if check and done.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} failed ({done.returncode}):\n{run.output[-6000:]}", pytrace=False)
        return run

    @property
    def source_schema(self) -> str:
        """The schema of the synced tables (dbt's sources)."""
        return "main" if self.kind == "duckdb" else self.env["LEDGER_WAREHOUSE_SCHEMA"]

    def execute(self, sql: str) -> None:
        """Change the warehouse (``{source}`` is the synced tables' schema)."""
        sql = sql.replace("{source}", self.source_schema)
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(self.env["LEDGER_WAREHOUSE_PATH"]) as conn:
                conn.execute(sql)
            return
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql)

    def query(self, sql: str) -> list[tuple]:
        """Run a read-only query in the warehouse (``{reporting}`` is the dbt schema)."""
        sql = sql.replace("{reporting}", self.reporting_schema)
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(self.env["LEDGER_WAREHOUSE_PATH"], read_only=True) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            return conn.execute(sql).fetchall()


def _pg_dbt_env(schema: str, source_schema: str) -> dict[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    return {
        "LEDGER_DBT_TARGET": "postgres",
        "LEDGER_DBT_PG_HOST": info.get("host", "127.0.0.1"),
        "LEDGER_DBT_PG_PORT": str(info.get("port", 5432)),
        "LEDGER_DBT_PG_USER": info.get("user", "postgres"),
        "LEDGER_DBT_PG_PASSWORD": info.get("password", ""),
        "LEDGER_DBT_PG_DBNAME": info.get("dbname", "test"),
        "LEDGER_DBT_SCHEMA": schema,
        "LEDGER_WAREHOUSE_SCHEMA": source_schema,
    }


def make_warehouse(store: Store, tmp_path: Path) -> Warehouse:
    common = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
              "LEDGER_DBT_THREADS": "2"}
    if store.is_postgres:
        schema = f"rpt_{_WORKER_SCHEMA}"  # dropped after each test, so the name can serve the next one
        source_schema = f"{schema}_wh"
        warehouse = Warehouse("postgres", store, warehouse_copy.postgres_target(PG_URL, source_schema),
                              {**common, **_pg_dbt_env(schema, source_schema)}, tmp_path, schema)
        warehouse.cleanup.append(lambda: _drop_schemas(schema, f"{schema}_staging", f"{schema}_intermediate",
                                                       source_schema))
        return warehouse
    path = tmp_path / "warehouse.duckdb"
    return Warehouse("duckdb", store, warehouse_copy.duckdb_target(path),
                     {**common, "LEDGER_DBT_TARGET": "duckdb", "LEDGER_WAREHOUSE_PATH": str(path),
                      "LEDGER_DBT_SCHEMA": "reporting", "LEDGER_WAREHOUSE_SCHEMA": "main"}, tmp_path, "reporting")


def _drop_schemas(*schemas: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def filled_warehouse(store: Store, tmp_path: Path, populate: Callable[[Store], object] = scenario.populate):
    """A warehouse synced from ``store`` once ``populate`` has filled it; its copies are cleaned up after."""
    populate(store)
    warehouse = make_warehouse(store, tmp_path)
    try:
        warehouse.sync_until_caught_up()
        yield warehouse
    finally:
        for cleanup in warehouse.cleanup:
            cleanup()


@pytest.fixture(autouse=True)
def _manifest(dbt_manifest):
    """The reporting assets are read from the manifest prepared once per run."""


@pytest.fixture
def warehouse(store, tmp_path):
    """The scenario ledger (on each engine in turn) synced to a warehouse on the same engine."""
    yield from filled_warehouse(store, tmp_path)


@pytest.fixture
def duckdb_warehouse(duckdb_url, tmp_path):
    """The scenario ledger on DuckDB, synced to a DuckDB warehouse file."""
    store = Store(duckdb_url)
    initialize_store(store)
    yield from filled_warehouse(store, tmp_path)
