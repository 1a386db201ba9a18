"""One error boundary for every command: one line on stderr, no traceback, the documented exit code
(2 bad input, 1 a rule broken by the data, 3 a store that is down, locked or not initialised)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.cli.conftest import run_cli


def test_posting_a_missing_file_is_bad_input(ready_store, tmp_path):
    run = run_cli("post", "nonexistent.csv", "--store", ready_store, cwd=tmp_path)
    assert run.code == 2
    assert "nonexistent.csv" in run.one_error_line()


def test_a_parser_crash_names_the_file(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    run = run_cli("parse", "stripe", str(deep), cwd=tmp_path)
    assert run.code == 2
    line = run.one_error_line()
    assert "deep.json" in line and "line" in line


def test_a_store_never_initialised_says_to_run_init(duck_url, tmp_path):
    run = run_cli("transactions", "--store", duck_url, cwd=tmp_path)
    assert run.code == 3
    assert "ledger-pipeline init" in run.one_error_line()


def test_a_server_that_is_down_says_to_start_it(tmp_path):
    run = run_cli("balances", "--store", "postgresql://nobody:s3cret@127.0.0.1:1/none", cwd=tmp_path)
    assert run.code == 3
    line = run.one_error_line()
    assert "start the server" in line and "s3cret" not in line


def test_a_locked_store_says_to_wait_for_the_writer(ready_store, tmp_path):
    path = ready_store[len("duckdb:///"):]
    holder = subprocess.Popen([sys.executable, "-c", (
        f"import duckdb, sys, time; c = duckdb.connect({path!r}); print('ok', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        run = run_cli("accounts", "create", "cash", "--normal-balance", "debit", "--currency", "USD",
                      "--store", ready_store, cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert run.code == 3
    assert "wait for the other writer" in run.one_error_line()


def test_an_invalid_warehouse_schema_name_is_bad_input(ready_store, tmp_path):
    config = tmp_path / "wh.yaml"
    config.write_text(f"targets:\n  bad:\n    type: duckdb\n    path: {tmp_path / 'wh.duckdb'}\n"
                      "    schema: \"bad-name;drop\"\n")
    run = run_cli("sync", "--target", "bad", "--config", str(config), "--store", ready_store, cwd=tmp_path)
    assert run.code == 2
    assert "bad-name;drop" in run.one_error_line()


def test_a_rule_broken_by_the_data_exits_1(ready_store, tmp_path):
    run = run_cli("accounts", "create", "cash", "--normal-balance", "sideways", "--currency", "USD",
                  "--store", ready_store, cwd=tmp_path)
    assert run.code == 1
    assert "normal_balance" in run.one_error_line()


def test_debug_shows_the_traceback(tmp_path, duck_url):
    started = time.monotonic()
    run = run_cli("--debug", "transactions", "--store", duck_url, cwd=tmp_path)
    assert run.code == 3
    assert "Traceback" in run.err
    assert time.monotonic() - started < 60


def test_ingest_into_a_store_never_initialised_says_to_run_init(duck_url, tmp_path):
    from tests.conftest import FIXTURES

    run = run_cli("ingest", "stripe", "--file", str(FIXTURES / "stripe" / "application_fee.json"), "--store", duck_url,
                  cwd=tmp_path)
    assert run.code == 3
    assert "ledger-pipeline init" in run.one_error_line()


def test_init_on_a_postgresql_schema_that_does_not_exist(tmp_path):
    from tests.conftest import PG_URL

    sep = "&" if "?" in PG_URL else "?"
    run = run_cli("init", "--store", f"{PG_URL}{sep}schema=no_such_schema_ops19", cwd=tmp_path)
    assert run.code == 3
    assert "CREATE SCHEMA" in run.one_error_line()
