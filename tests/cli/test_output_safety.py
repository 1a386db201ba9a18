"""Bad option values exit 2 naming the allowed ones; secrets never printed; CSV exports safe to open in a
spreadsheet unless ``--raw``."""

from __future__ import annotations

import csv
import json

import pytest

from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.redact import redact_url
from tests.cli.conftest import run_cli
from tests.conftest import pg_schema


def test_an_unknown_status_names_the_allowed_values(ready_store, tmp_path):
    run = run_cli("transactions", "--status", "bogus", "--store", ready_store, cwd=tmp_path)
    assert run.code == 2
    line = run.one_error_line()
    assert "bogus" in line and "pending, posted, archived" in line


def test_a_mixed_case_schema_is_refused_not_lower_cased(tmp_path):
    run = run_cli("init", "--store", "postgresql://postgres@127.0.0.1:5432/test?schema=Ledger", cwd=tmp_path)
    assert run.code == 2
    assert "'Ledger'" in run.one_error_line()


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://app:hunter2@db/ledger", "postgresql://app:***@db/ledger"),
    ("postgresql://db/ledger?user=app&password=hunter2&schema=x", "postgresql://db/ledger?user=app&password=***&schema=x"),
    ("host=db user=app password='hunter 2' dbname=ledger", "host=db user=app password=*** dbname=ledger"),
    ("host=db password=hunter2", "host=db password=***"),
    ("duckdb:///var/ledger.duckdb", "duckdb:///var/ledger.duckdb"),
])
def test_redact_url_masks_every_form(url, shown):
    assert redact_url(url) == shown


def test_init_never_prints_a_password_query_parameter(tmp_path):
    with pg_schema() as url:
        run = run_cli("init", "--store", f"{url}&password=hunter2", "--json", cwd=tmp_path)
    assert run.code == 0, run.err
    assert "hunter2" not in run.out + run.err
    assert "password=***" in json.loads(run.out)["data"]["store"]


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_export_csv_is_spreadsheet_safe_unless_raw(engine, ready_store, tmp_path):
    def export(url: str) -> tuple[list[str], list[str]]:
        with Store(url).transaction() as conn:
            for name in ["=HYPERLINK(\"x\")", "+1", "-2", "@sum", "plain"]:
                ensure_account(conn, "main", AccountSpec(name=name, normal_balance="debit", currency="USD"))
        safe = run_cli("export-csv", "ledger_accounts", "-o", str(tmp_path / "safe.csv"), "--store", url,
                       cwd=tmp_path)
        raw = run_cli("export-csv", "ledger_accounts", "-o", str(tmp_path / "raw.csv"), "--raw", "--store", url,
                      cwd=tmp_path)
        assert (safe.code, raw.code) == (0, 0), safe.err + raw.err

        def read(name: str) -> list[str]:
            with open(tmp_path / name, newline="") as handle:
                return sorted(row["name"] for row in csv.DictReader(handle))
        return read("safe.csv"), read("raw.csv")

    if engine == "duckdb":
        safe, raw = export(ready_store)
    else:
        with pg_schema() as url:
            assert run_cli("init", "--store", url, cwd=tmp_path).code == 0
            safe, raw = export(url)
    assert safe == sorted(["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@sum", "plain"])
    assert raw == sorted(["=HYPERLINK(\"x\")", "+1", "-2", "@sum", "plain"])
