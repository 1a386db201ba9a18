"""Controls of the file's own across formats: CSV running balances, and flagged balance records."""

from __future__ import annotations

from connectors.bank import parse_file, parse_statement

CSV = "Date,Amount,Balance\n2024-01-02,-10.00,90.00\n2024-01-03,25.50,115.50\n2024-01-04,-5.25,{last}\n"


def test_csv_running_balance_is_checked(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV.format(last="110.25"))
    ok = parse_statement(path, date="Date", amount="Amount", balance="Balance", currency_code="EUR")
    assert ok.warnings == [] and (ok.accounts[0].opening_balance, ok.accounts[0].closing_balance) == (10000, 11025)
    path.write_text(CSV.format(last="110.00"))
    bad = parse_statement(path, date="Date", amount="Amount", balance="Balance", currency_code="EUR")
    (warning,) = bad.warnings
    assert (warning.code, warning.location) == ("balance_mismatch", "line 4")


def test_balance_record_of_a_flagged_statement_carries_the_warning(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(CSV.format(last="110.00"))
    records = parse_file(path, date="Date", amount="Amount", balance="Balance", currency_code="EUR")
    (balance,) = [r for r in records if r.stream == "statement_balances"]
    assert balance.fields["warnings"][0].startswith("balance_mismatch: ")
    path.write_text(CSV.format(last="110.25"))
    records = parse_file(path, date="Date", amount="Amount", balance="Balance", currency_code="EUR")
    assert all("warnings" not in r.fields for r in records)


def test_parse_json_reports_named_warnings(tmp_path):
    import json

    from typer.testing import CliRunner

    from ledger_pipeline.cli import app

    path = tmp_path / "export.csv"
    path.write_text(CSV.format(last="110.00"))
    result = CliRunner().invoke(app, ["parse", "bank", str(path), "--json", "-o", "date=Date", "-o", "amount=Amount",
                                      "-o", "balance=Balance", "-o", "currency_code=EUR"])
    assert result.exit_code == 0, result.output
    (warning,) = json.loads(result.stdout)["data"]["warnings"]
    assert (warning["code"], warning["account_id"], warning["location"]) == ("balance_mismatch", "export", "line 4")
