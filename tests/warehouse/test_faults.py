"""Crashes: a sync killed (SIGKILL) between staging and merge, and one killed during the merge, then run
again, leaves every destination table equal to the ledger (every row and column, ``tests.warehouse.oracle``);
one more sync then moves nothing. Run through the real CLI in a child process, from a DuckDB store and from
a PostgreSQL store (whose watermark is the snapshot's xmin)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import psycopg
import pytest
import yaml

from ledger_pipeline.warehouse import sync_target
from ledger_pipeline.warehouse.base import ENV_FAULT, SimulatedCrash
from tests.conftest import PG_URL
from tests.warehouse.conftest import assert_equal_to_ledger, post, settle_pending, warehouse_state
from tests.warehouse.emulated import RedshiftOnPostgres, bigquery_target, redshift_target, snowflake_target
from tests.warehouse.settle import wait_until_settled


def run_sync(store, target, tmp_path, fault: str | None = None) -> subprocess.CompletedProcess:
    config = tmp_path / f"targets-{uuid.uuid4().hex[:6]}.yaml"
    config.write_text(yaml.safe_dump({"targets": {target.name: {"type": target.type, **target.options}}}))
    env = {k: v for k, v in os.environ.items() if k != ENV_FAULT}
    if fault:
        env[ENV_FAULT] = fault
    return subprocess.run(
        [sys.executable, "-m", "ledger_pipeline.cli", "sync", "--target", target.name, "--config", str(config),
         "--store", store.url, "--json"],
        env=env, capture_output=True, text=True, timeout=600)


def _entries_in_warehouse(target) -> int:
    state = warehouse_state(target, tables=("ledger_entries",))
    return state["ledger_entries"]["rows"] if "ledger_entries" in state else 0


def crash_and_recover(store, target, tmp_path, merge_is_server_side: bool = False) -> None:
    # 1. the initial load dies after staging the entries, before they are merged
    wait_until_settled(store)  # so the killed sync has the entries in its window
    killed = run_sync(store, target, tmp_path, fault="ledger_entries:after_stage")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _entries_in_warehouse(target) == 0
    done = run_sync(store, target, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_equal_to_ledger(store, target)

    # 2. new and settled transactions; the sync dies in the middle of merging them
    before = _entries_in_warehouse(target)
    batch = post(store, 25, seed=11, prefix="f", pending_every=2)
    settle_pending(store, batch)
    wait_until_settled(store)
    killed = run_sync(store, target, tmp_path, fault="ledger_entries:during_merge")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    if not merge_is_server_side:  # BigQuery runs the submitted script to its end on the server
        assert _entries_in_warehouse(target) == before
    done = run_sync(store, target, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert_equal_to_ledger(store, target)

    # 3. nothing changed since: nothing moves
    again = run_sync(store, target, tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["data"]["total_rows"] == 0


@pytest.mark.slow
def test_crash_duckdb_file(ledger, duckdb_warehouse, tmp_path):
    crash_and_recover(ledger, duckdb_warehouse, tmp_path)


@pytest.mark.slow
def test_crash_postgres(ledger, pg_warehouse, tmp_path):
    crash_and_recover(ledger, pg_warehouse, tmp_path)


@pytest.mark.slow
def test_crash_snowflake(ledger, snowflake_server, tmp_path):
    crash_and_recover(ledger, snowflake_target(snowflake_server), tmp_path)


@pytest.mark.slow
def test_crash_bigquery(ledger, bigquery_endpoint, tmp_path):
    crash_and_recover(ledger, bigquery_target(bigquery_endpoint), tmp_path, merge_is_server_side=True)


@pytest.mark.slow
def test_crash_redshift_in_process(ledger, s3_endpoint, monkeypatch):
    """Redshift's stand-in (RedshiftOnPostgres) lives in the tests, so the crash is raised in-process at the
    same points; the open transaction is abandoned exactly as a killed process's would be."""
    target = redshift_target(s3_endpoint, "ledger-wh")
    try:
        monkeypatch.setenv("LEDGER_WAREHOUSE_FAULT_ACTION", "raise")
        for fault in ("ledger_entries:after_stage", "ledger_entries:during_merge"):
            if fault.endswith("during_merge"):
                settle_pending(ledger, post(ledger, 25, seed=12, prefix="g", pending_every=2))
            wait_until_settled(ledger)
            monkeypatch.setenv(ENV_FAULT, fault)
            with pytest.raises(SimulatedCrash):
                sync_target(ledger, target, destination=RedshiftOnPostgres(target))
            monkeypatch.delenv(ENV_FAULT)
            sync_target(ledger, target, destination=RedshiftOnPostgres(target))
            assert_equal_to_ledger(ledger, target, RedshiftOnPostgres(target))
        assert sync_target(ledger, target, destination=RedshiftOnPostgres(target)).total_rows == 0
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{target.options["schema"]}" CASCADE')


def test_cli_reports_a_destination_that_is_down(duckdb_ledger, tmp_path):
    from ledger_pipeline.warehouse import TargetConfig

    target = TargetConfig("down", "postgres", {"url": "postgresql://postgres@127.0.0.1:1/x", "connect_timeout": 1,
                                               "retry": {"attempts": 2, "wait_initial": 0.01}})
    result = run_sync(duckdb_ledger, target, tmp_path)
    assert result.returncode == 3
    assert "destination unavailable" in result.stderr and "'down'" in result.stderr


def test_cli_unknown_target_and_missing_secret(duckdb_ledger, tmp_path):
    from ledger_pipeline.warehouse import TargetConfig

    target = TargetConfig("pg", "postgres", {"url": "${WH_TEST_UNSET_SECRET}"})
    result = run_sync(duckdb_ledger, target, tmp_path)
    assert result.returncode == 2 and "WH_TEST_UNSET_SECRET" in result.stderr
