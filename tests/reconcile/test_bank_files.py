"""Reconciliation of real bank statement samples parsed by ``connectors.bank`` (both engines).

Fixtures: tests/fixtures/bank/ (camt.053 from genkgo/camt, BAI2 from moov-io/bai2, OFX written for the
project; see tests/fixtures/README.md)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from ledger_pipeline.cli import app
from ledger_pipeline.reconcile import run_reconciliation
from ledger_pipeline.reconcile.statements import load_statement_file
from tests.reconcile import scenario

BANK = Path(__file__).parents[1] / "fixtures" / "bank"


def _rules(store):
    with store.connect() as conn:
        return sorted(conn.all(
            "SELECT m.rule, t.external_id, CAST(l.amount AS BIGINT) FROM recon_matches m "
            "JOIN recon_match_items i ON i.match_id = m.id AND i.side = 'ledger' "
            "JOIN ledger_transactions t ON CAST(t.id AS TEXT) = i.item_id "
            "JOIN recon_match_items b ON b.match_id = m.id AND b.side = 'bank' "
            "JOIN bank_statement_lines l ON l.id = b.item_id"))


def test_camt053_two_statements_of_one_day(store):
    scenario.setup_bank_account(store, name="nl_eur", cash="cash_eur", ident="NL26VAYB8060476890", currency="EUR")
    d = date(2014, 12, 31)
    scenario.post_cash(store, [("erp:opening", 1815, date(2014, 12, 1), None), ("erp:000000001", 885, d, None),
                               ("erp:rent", -700, date(2014, 12, 30), None)], cash="cash_eur", other="revenue_eur")
    with store.transaction() as conn:
        loaded = load_statement_file(conn, str(BANK / "camt053" / "camt053.v2.multi.statement.xml"))
    assert (loaded.statements_loaded, loaded.lines_loaded) == (2, 2)
    with store.transaction() as conn:  # the same file again: nothing new
        again = load_statement_file(conn, str(BANK / "camt053" / "camt053.v2.multi.statement.xml"))
    assert (again.statements_loaded, again.statements_skipped, again.lines_loaded) == (0, 2, 0)

    result = run_reconciliation(store, as_of=date(2015, 1, 10))
    # The day's closing is the later statement's (2000 = 1815 + 885 - 700): no variance.
    assert [(v.statement_date, v.ledger_balance, v.bank_balance, v.variance) for v in result.variances] == \
        [(d, 2000, 2000, 0)]
    assert result.statement_breaks == []
    # Line 1 carries the end-to-end reference 000000001; line 2 matches by amount a day apart.
    assert _rules(store) == [("amount_date", "erp:rent", -700), ("reference", "erp:000000001", 885)]
    assert (result.matching.bank_unmatched, result.matching.ledger_unmatched) == (0, 1)  # the opening balance


def test_ofx_statement_via_the_command(store):
    scenario.setup_bank_account(store, name="checking", cash="cash_checking", ident="999988")
    scenario.post_cash(store, [
        ("erp:opening", -55046, date(2023, 12, 31), None),  # so that the ledger ends at the bank's 200.29
        ("erp:1000", -20000, date(2024, 1, 4), None),  # check number 1000 is the line's reference
        ("erp:atm", -30000, date(2024, 1, 11), None),
        ("erp:payroll", 125075, date(2024, 1, 15), None),
    ], cash="cash_checking")
    runner = CliRunner()
    out = runner.invoke(app, ["reconcile", "import-statement", str(BANK / "ofx" / "checking_v1.ofx"),
                              "--store", store.url, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["data"][0]["lines_loaded"] == 3
    out = runner.invoke(app, ["reconcile", "--store", store.url, "--account", "checking", "--as-of", "2024-02-01",
                              "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)["data"]
    assert [(v["statement_date"], v["bank_balance_minor"], v["variance"]) for v in data["variances"]] == \
        [("2024-01-31", "20029", "0.00")]
    assert data["matching"]["matches_by_rule"] == {"amount_date": 2, "reference": 1}
    assert _rules(store) == [("amount_date", "erp:atm", -30000), ("amount_date", "erp:payroll", 125075),
                             ("reference", "erp:1000", -20000)]


def test_bai2_without_closing_balances_still_matches_lines(store):
    scenario.setup_bank_account(store, name="cad", cash="cash_cad", ident="10200123456", currency="CAD")
    scenario.post_cash(store, [("erp:chq", -2500, date(2006, 3, 16), None)], cash="cash_cad", other="revenue_cad")
    with store.transaction() as conn:
        loaded = load_statement_file(conn, str(BANK / "bai2" / "testdata_sample1.txt"))
    with store.connect() as conn:
        total = conn.scalar("SELECT CAST(sum(amount) AS BIGINT) FROM bank_statement_lines")
    assert loaded.lines_loaded == 17
    from connectors.bank import parse_statement

    parsed = parse_statement(BANK / "bai2" / "testdata_sample1.txt")
    assert total == sum(line.amount_minor for line in parsed.lines)  # exact, every line kept
    result = run_reconciliation(store, as_of=date(2006, 3, 31))
    assert result.variances == []  # no 015 closing ledger balance in the file: nothing to compare
    assert _rules(store) == [("amount_date", "erp:chq", -2500)]
    assert result.matching.bank_unmatched == 16


def _flags(store) -> list[tuple[str, str | None]]:
    with store.connect() as conn:
        return conn.all("SELECT account_identifier, control_warning FROM bank_statements ORDER BY 1")


def test_a_file_whose_trailer_totals_are_wrong_is_taken_only_on_purpose_and_flagged(store):
    scenario.setup_bank_account(store, name="svb", cash="cash_svb", ident="3333333333")
    bad = str(BANK / "bai2" / "invalid_checksum_eod.bai2")
    runner = CliRunner()
    refused = runner.invoke(app, ["reconcile", "import-statement", bad, "--store", store.url, "--json"])
    assert refused.exit_code == 2 and "control total 8325983 does not equal" in " ".join(refused.output.split())
    assert _flags(store) == []

    taken = runner.invoke(app, ["reconcile", "import-statement", bad, "-o", "verify=false", "--store", store.url,
                                "--json"])
    assert taken.exit_code == 0, taken.output
    (result,) = json.loads(taken.stdout)["data"]
    assert (result["statements_loaded"], result["lines_loaded"]) == (1, 1)
    assert len(result["warnings"]) == 1 and "line 15: account 3333333333 control total" in result["warnings"][0]
    ((account, flag),) = _flags(store)
    assert account == "3333333333" and "bad checksum" in flag


def test_a_csv_statement_is_imported_with_its_column_mapping(store):
    scenario.setup_bank_account(store, name="de_eur", cash="cash_de", ident="DE89370400440532013000", currency="EUR")
    path = str(BANK / "csv" / "signed_amount.csv")
    out = CliRunner().invoke(app, [
        "reconcile", "import-statement", path, "--format", "csv", "-o", "date=Date", "-o", "amount=Amount",
        "-o", "account=Account", "-o", "currency=Currency", "-o", "text=Description", "-o", "reference=Reference",
        "-o", "balance=Balance", "--store", store.url, "--json"])
    assert out.exit_code == 0, out.output
    (result,) = json.loads(out.stdout)["data"]
    assert (result["statements_loaded"], result["lines_loaded"], result["warnings"]) == (1, 3, [])
    with store.connect() as conn:
        assert conn.one("SELECT CAST(opening_balance AS BIGINT), CAST(closing_balance AS BIGINT), currency, "
                        "control_warning FROM bank_statements") == (50000, 147351, "EUR", None)
        assert conn.scalar("SELECT CAST(sum(amount) AS BIGINT) FROM bank_statement_lines") == 100000 - 2550 - 99


def test_the_dagster_bank_folder_takes_options_per_file(store, tmp_path):
    import dagster as dg

    from ledger_pipeline.defs.reconcile.assets import bank_statements
    from ledger_pipeline.defs.resources import LandingFolderResource, LedgerStoreResource

    scenario.setup_bank_account(store, name="svb", cash="cash_svb", ident="3333333333")
    scenario.setup_bank_account(store, name="de_eur", cash="cash_de", ident="DE89370400440532013000", currency="EUR")
    folder = tmp_path / "landing" / "bank"
    folder.mkdir(parents=True)
    (folder / "svb_2010-08-31.bai2").write_bytes((BANK / "bai2" / "invalid_checksum_eod.bai2").read_bytes())
    (folder / "commerz_2024-03.csv").write_bytes((BANK / "csv" / "signed_amount.csv").read_bytes())
    (folder / "options.yaml").write_text(
        '"svb_*.bai2": {verify: false}\n'
        '"commerz_*.csv": {format: csv, date: Date, amount: Amount, account: Account, currency: Currency,\n'
        '                  balance: Balance}\n')
    with dg.build_asset_context() as context:
        result = bank_statements(context, LedgerStoreResource(url=store.url),
                                 LandingFolderResource(path=str(tmp_path / "landing")))
    assert result.metadata["statements_loaded_this_run"] == 2
    assert result.metadata["files_flagged_this_run"].data == ["svb_2010-08-31.bai2"]
    flags = dict(_flags(store))
    assert flags["DE89370400440532013000"] is None and "control total 8325983" in flags["3333333333"]
