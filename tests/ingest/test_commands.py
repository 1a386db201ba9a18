"""The CLI: ``parse`` prints normalised records / statement summaries without a store; ``ingest`` posts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger_pipeline.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
runner = CliRunner()


def test_parse_bank_statement_json_without_a_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGER_STORE_URL", f"duckdb:///{tmp_path / 'never.duckdb'}")
    result = runner.invoke(app, ["parse", "bank", str(FIXTURES / "bank" / "bai2" / "testdata_sample1.txt"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["data"]
    assert data["format"] == "bai2" and data["lines"] == 17
    assert data["credits_total_minor"] == "320000" and data["debits_total_minor"] == "320000"
    assert [a["credits_count"] + a["debits_count"] for a in data["accounts"]] == [11, 6]
    line = data["statement_lines"][0]
    assert (line["currency"], line["amount"], line["amount_minor"]) == ("CAD", "-25.00", "-2500")
    assert "credits_total" not in data  # a total over the file's accounts names no one currency: minor units only
    assert not (tmp_path / "never.duckdb").exists()


def test_parse_csv_statement_with_options_and_stripe_records():
    result = runner.invoke(app, ["parse", "bank", str(FIXTURES / "bank" / "csv" / "signed_amount.csv"), "--json",
                                 "-o", "date=Date", "-o", "amount=Amount", "-o", "balance=Balance",
                                 "-o", "currency=Currency", "-o", "account=Account"])
    assert result.exit_code == 0, result.output
    (account,) = json.loads(result.stdout)["data"]["accounts"]
    assert (account["opening_balance_minor"], account["closing_balance_minor"]) == ("50000", "147351")
    result = runner.invoke(app, ["parse", "stripe", str(FIXTURES / "stripe" / "reports" /
                                                      "payout_reconciliation_itemized.csv"), "--json"])
    data = json.loads(result.stdout)["data"]
    assert data["records"] == 4 and data["items"][0]["fields"]["net"] == 9680


def test_parse_bad_input_exits_2_naming_file_and_line():
    result = runner.invoke(app, ["parse", "bank", str(FIXTURES / "bank" / "bai2" / "invalid_checksum_eod.bai2")])
    assert result.exit_code == 2
    assert "invalid_checksum_eod.bai2, line 15" in result.output


def test_ingest_command_is_idempotent(tmp_path):
    store = f"duckdb:///{tmp_path / 'l.duckdb'}"
    assert runner.invoke(app, ["init", "--store", store]).exit_code == 0
    report = str(FIXTURES / "adyen" / "settlement" / "settlement_detail_report_batch_380.csv")
    first = runner.invoke(app, ["ingest", "adyen", "--file", report, "--store", store, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["data"]["created"] == 7
    second = runner.invoke(app, ["ingest", "adyen", "--file", report, "--store", store, "--json"])
    assert (json.loads(second.stdout)["data"]["landed"], json.loads(second.stdout)["data"]["created"]) == (0, 0)
    neither = runner.invoke(app, ["ingest", "adyen", "--store", store])
    assert neither.exit_code == 2


BASE_MAPPING = """source: adyen
accounts:
  cash: {name: "cash:{currency}", normal_balance: debit}
  fees: {name: "fees:{currency}", normal_balance: debit}
templates:
  - type: Settled
    description: "Adyen {type}"
    entries:
      - {account: cash, direction: debit, amount: net}
      - {account: fees, direction: credit, amount: net}
"""


@pytest.mark.parametrize("old, new, field", [
    ("  - type: Settled\n", "  - type:\n", "templates[0].type"),
    ("  - type: Settled\n", "  - type: ''\n", "templates[0].type"),
    ("amount: net}\n      - {account: fees", "amount: }\n      - {account: fees", "templates[0].entries[0].amount"),
    ("{account: cash, direction", "{account: '', direction", "templates[0].entries[0].account"),
    ('name: "cash:{currency}"', "name: ''", "accounts.cash.name"),
    ("    entries:\n      - {account: cash, direction: debit, amount: net}\n", "    entries:\n      -\n",
     "templates[0].entries[0]"),
    (BASE_MAPPING[BASE_MAPPING.index("  - type"):], "", "templates"),
    (BASE_MAPPING[BASE_MAPPING.index("  - type"):], "  -\n", "templates[0]"),
])
def test_an_empty_or_missing_template_value_is_one_line_naming_the_mapping_and_field(tmp_path, old, new, field):
    assert old in BASE_MAPPING
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(BASE_MAPPING.replace(old, new), encoding="utf-8")
    store = f"duckdb:///{tmp_path / 'l.duckdb'}"
    assert runner.invoke(app, ["init", "--store", store]).exit_code == 0
    report = str(FIXTURES / "adyen" / "settlement" / "settlement_detail_report_batch_380.csv")
    result = runner.invoke(app, ["ingest", "adyen", "--file", report, "--mapping", str(mapping), "--store", store])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert f"bad.yaml: {field} is " in lines[0]
