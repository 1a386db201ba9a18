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
            "JOIN ledger_transactions t ON t.id = i.item_id "
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
    assert json.loads(out.output)[0]["lines_loaded"] == 3
    out = runner.invoke(app, ["reconcile", "--store", store.url, "--account", "checking", "--as-of", "2024-02-01",
                              "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [(v["statement_date"], v["bank_balance"], v["variance"]) for v in data["variances"]] == \
        [("2024-01-31", 20029, 0)]
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
