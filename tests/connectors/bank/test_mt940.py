"""SWIFT MT940/MT942: Dutch and German :86: fields, balance and :90: controls, detection by content."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.bank import detect_format, parse_file, parse_statement
from connectors.bank.mt940 import parse_86
from connectors.common.errors import ParseError

MT940 = Path(__file__).resolve().parents[2] / "fixtures" / "bank" / "mt940"


def test_abn_amro_structured_86_and_balances():
    stmt = parse_statement(MT940 / "abnamro_nl.sta")
    assert stmt.format == "mt940" and stmt.warnings == []
    (acct,) = stmt.accounts
    assert (acct.account_id, acct.currency, acct.date) == ("417164300", "EUR", date(2024, 1, 4))
    assert (acct.opening_balance, acct.closing_balance) == (451237, 563642)
    assert [x.amount_minor for x in stmt.lines] == [-12500, 125000, -95]
    fee, wire, charge = stmt.lines
    assert fee.text == "GEMEENTE AMSTERDAM | FACTUUR 2023-1188 PARKEERVERGUNNING" and fee.customer_reference is None
    assert wire.customer_reference == "E2E-77812" and wire.text == "MUELLER HANDELS GMBH | INV 77812 DANKE"
    assert charge.line_ref.endswith("abnamro_nl.sta, line 15")


def test_german_subfields_reversals_and_year_end():
    stmt = parse_statement(MT940 / "sparkasse_de.txt")  # cp1252 umlauts, CRLF, named .txt
    assert detect_format(MT940 / "sparkasse_de.txt") == "mt940"
    (acct,) = stmt.accounts
    assert (acct.account_id, acct.statement_id, acct.closing_balance) == ("10020030/1234567890", "00012/001",
                                                                          125750)
    credit, fee, reversal = stmt.lines
    assert (credit.amount_minor, credit.customer_reference, credit.bank_reference) == (25000, "RE-2024-0815",
                                                                                       "8327000090031789")
    assert credit.text == "Müller Bürobedarf GmbH | Rechnung 0815 vom 20.12.2024"
    assert (fee.date, fee.amount_minor, fee.text) == (date(2025, 1, 2), -1250, "Sparkasse | Kontoführung Dezember")
    assert reversal.amount_minor == 2000  # RD: reversal of a debit comes back in
    assert stmt.warnings == []
    info = parse_86("166?00SEPA-GUTSCHRIFT?20EREF+E1?21SVWZ+Rech\n?22nung 1?32ACME GmbH")
    assert (info["GVC"], info["00"], info["EREF"], info["SVWZ"], info["32"]) == (
        "166", "SEPA-GUTSCHRIFT", "E1", "Rechnung 1", "ACME GmbH")


def test_entry_date_across_the_year_end(tmp_path):
    path = tmp_path / "ye.txt"
    path.write_text(":20:X\n:25:DE1\n:28C:1\n:60F:C241231EUR0,00\n:61:2501011231C5,00NTRFNONREF\n"
                    ":62F:C250101EUR5,00\n-\n")
    (line,) = parse_statement(path).lines
    assert (line.date, line.value_date) == (date(2024, 12, 31), date(2025, 1, 1))


def test_ing_mt942_with_envelope_and_90_controls(tmp_path):
    stmt = parse_statement(MT940 / "ing_mt942.txt")
    assert stmt.format == "mt942" and stmt.warnings == []
    assert [(x.amount_minor, x.customer_reference, x.text) for x in stmt.lines] == [
        (50000, "E2E-9001", "ACME BV | ORDER 9001"), (-4510, "SEPA-DD-22", "ENERGIE NV | KLANT 22 JAN")]
    bad = tmp_path / "bad942.txt"
    bad.write_text((MT940 / "ing_mt942.txt").read_text().replace(":90D:1EUR45,10", ":90D:2EUR90,20"))
    (warning,) = parse_statement(bad).warnings
    assert warning.code == "control_total_mismatch" and warning.location == "line 12"


def test_opening_plus_lines_not_closing_is_a_named_warning(tmp_path):
    path = tmp_path / "stmt.sta"
    path.write_text((MT940 / "abnamro_nl.sta").read_text().replace(":62F:C240104EUR5636,42",
                                                                    ":62F:C240104EUR5636,40"))
    stmt = parse_statement(path)
    (warning,) = stmt.warnings
    assert (warning.code, warning.account_id, warning.date) == ("balance_mismatch", "417164300", date(2024, 1, 4))
    assert stmt.summary()["warnings"][0]["code"] == "balance_mismatch"
    assert len(parse_file(path)) == 4  # lines and balances still land (flagged, not dropped)


@pytest.mark.parametrize(("bad", "line", "message"), [
    (":61:2401030103X125,00N654NONREF", 8, "is not a statement line"),
    (":61:2401320103D125,00N654NONREF", 8, "not a calendar date"),
    (":61:2401030103D125.00N654NONREF", 8, "is not a statement line"),
])
def test_unreadable_line_is_an_error_naming_file_and_line(tmp_path, bad, line, message):
    path = tmp_path / "broken.txt"
    path.write_text((MT940 / "abnamro_nl.sta").read_text().replace(":61:2401030103D125,00N654NONREF", bad))
    with pytest.raises(ParseError, match=rf"broken\.txt, line {line}: .*{message}"):
        parse_statement(path)


def test_no_currency_is_refused(tmp_path):
    path = tmp_path / "nocur.txt"
    path.write_text(":20:X\n:25:DE1\n:28C:1\n:61:2401030103D125,00NTRFNONREF\n-\n")
    with pytest.raises(ParseError, match=r"nocur\.txt, line 1: message gives no currency"):
        parse_statement(path)


def test_txt_that_is_neither_is_csv_and_the_error_names_the_file(tmp_path):
    path = tmp_path / "export.txt"
    path.write_text("Date,Amount\n2024-01-02,12.00\n")
    assert detect_format(path) == "csv"
    with pytest.raises(ParseError, match=r"export\.txt: read as a CSV statement"):
        parse_statement(path)


def test_a_banks_own_field_is_not_read_into_the_line_text(tmp_path):
    path = tmp_path / "rabo.txt"
    path.write_text((MT940 / "abnamro_nl.sta").read_text().replace(
        ":86:/TRTP/BANKKOSTEN/REMI/KOSTEN BETAALREKENING DECEMBER\n",
        ":86:/TRTP/BANKKOSTEN/REMI/KOSTEN BETAALREKENING DECEMBER\n:NS:22ABN AMRO PAKKET\n"))
    assert parse_statement(path).lines[-1].text == "KOSTEN BETAALREKENING DECEMBER"
