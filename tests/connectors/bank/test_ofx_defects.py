"""OFX/QFX as banks really write them: comments, one-line headers, odd charsets, no CURDEF, decimal
commas, empty balances, and LEDGERBAL checked against the lines."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.bank import parse_statement
from connectors.common.errors import ParseError

HEADER = ("OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
          "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n")


def _stmt(body: str, curdef: str = "<CURDEF>USD\n", balance: str = "<BALAMT>-150.25\n<DTASOF>20240131\n",
          acct: str = "55501234", dtend: str = "20240131") -> str:
    return (f"<STMTTRNRS>\n<TRNUID>1\n<STATUS>\n<CODE>0\n<SEVERITY>INFO\n</STATUS>\n<STMTRS>\n{curdef}"
            f"<BANKACCTFROM>\n<BANKID>021000021\n<ACCTID>{acct}\n<ACCTTYPE>CHECKING\n</BANKACCTFROM>\n"
            f"<BANKTRANLIST>\n<DTSTART>20240101\n<DTEND>{dtend}\n{body}</BANKTRANLIST>\n"
            f"<LEDGERBAL>\n{balance}</LEDGERBAL>\n</STMTRS>\n</STMTTRNRS>\n")


def _trn(amount: str, fitid: str, day: str = "20240115", name: str = "ACME PAYROLL") -> str:
    return (f"<STMTTRN>\n<TRNTYPE>OTHER\n<DTPOSTED>{day}120000.000[-5:EST]\n<TRNAMT>{amount}\n"
            f"<FITID>{fitid}\n<NAME>{name}\n</STMTTRN>\n")


def _ofx(*stmts: str, header: str = HEADER) -> str:
    return (f"{header}<OFX>\n<SIGNONMSGSRSV1>\n<SONRS>\n<STATUS>\n<CODE>0\n<SEVERITY>INFO\n</STATUS>\n"
            f"<DTSERVER>20240201\n<LANGUAGE>ENG\n</SONRS>\n</SIGNONMSGSRSV1>\n<BANKMSGSRSV1>\n"
            f"{''.join(stmts)}</BANKMSGSRSV1>\n</OFX>\n")


def _write(tmp_path, text: str, name: str = "bank.qfx", encoding: str = "cp1252"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_commented_out_transaction_is_not_posted(tmp_path):
    body = _trn("-100.00", "A1") + "<!-- reversed, do not post\n" + _trn("-999.00", "A2") + "-->\n" + _trn("50.00", "A3")
    text = _ofx(_stmt(body))
    stmt = parse_statement(_write(tmp_path, text))
    assert [x.bank_reference for x in stmt.lines] == ["A1", "A3"]
    assert [x.amount_minor for x in stmt.lines] == [-10000, 5000]
    a3_line = text[:text.index("<FITID>A3")].rfind("<STMTTRN>")
    # line numbers still count the comment's lines
    assert stmt.lines[1].line_ref.endswith(f"line {text[:a3_line].count(chr(10)) + 1}")


def test_unclosed_comment_is_an_error(tmp_path):
    body = _trn("-100.00", "A1") + "<!-- reversed\n" + _trn("-999.00", "A2")
    with pytest.raises(ParseError, match=r"bank\.qfx, line \d+: comment <!-- is never closed"):
        parse_statement(_write(tmp_path, _ofx(_stmt(body))))


def test_one_line_header_and_charset_without_iso_prefix(tmp_path):
    one_line = ("OFXHEADER:100 DATA:OFXSGML VERSION:102 SECURITY:NONE ENCODING:USASCII COMPRESSION:NONE "
                "OLDFILEUID:NONE NEWFILEUID:NONE CHARSET:1252")
    stmt = parse_statement(_write(tmp_path, _ofx(_stmt(_trn("-12.00", "B1", name="CAFÉ")), header=one_line)))
    assert stmt.lines[0].text == "CAFÉ" and stmt.lines[0].amount_minor == -1200
    latin = HEADER.replace("CHARSET:1252", "CHARSET:8859-1")
    stmt = parse_statement(_write(tmp_path, _ofx(_stmt(_trn("-12.00", "B1", name="Müller GmbH")), header=latin),
                                  "latin.ofx", "latin-1"))
    assert stmt.lines[0].text == "Müller GmbH"


def test_unknown_charset_is_a_parse_error_naming_file_and_line(tmp_path):
    bad = HEADER.replace("CHARSET:1252", "CHARSET:KLINGON-7")
    with pytest.raises(ParseError, match=r"bank\.qfx, line 6: unknown CHARSET 'KLINGON-7'"):
        parse_statement(_write(tmp_path, _ofx(_stmt(_trn("1.00", "C1")), header=bad)))


@pytest.mark.parametrize("curdef", ["", "<CURDEF>\n", "<CURDEF></CURDEF>\n"])
def test_missing_or_empty_curdef_is_refused_unless_the_caller_names_it(tmp_path, curdef):
    path = _write(tmp_path, _ofx(_stmt(_trn("-20.00", "D1"), curdef=curdef)))
    with pytest.raises(ParseError, match=r"bank\.qfx, line \d+: statement has no CURDEF"):
        parse_statement(path)
    stmt = parse_statement(path, currency="AUD")
    assert stmt.accounts[0].currency == "AUD" and stmt.lines[0].currency == "AUD"
    assert stmt.lines[0].amount_minor == -2000


def test_caller_currency_contradicting_curdef_is_refused(tmp_path):
    with pytest.raises(ParseError, match="CURDEF is USD but the caller named EUR"):
        parse_statement(_write(tmp_path, _ofx(_stmt(_trn("1.00", "E1")))), currency="EUR")


def test_decimal_comma_plus_space_and_empty_balance(tmp_path):
    body = _trn("-2000,00", "F1") + _trn("+ 12.00", "F2") + _trn("+7,5", "F3")
    xml_balance = "<BALAMT></BALAMT>\n<DTASOF>20240131\n"
    stmt = parse_statement(_write(tmp_path, _ofx(_stmt(body, balance=xml_balance))))
    assert [x.amount_minor for x in stmt.lines] == [-200000, 1200, 750]
    (acct,) = stmt.accounts
    assert acct.closing_balance is None and acct.date == date(2024, 1, 31)


def test_thousands_separator_is_refused_with_the_line(tmp_path):
    with pytest.raises(ParseError, match=r"bank\.qfx, line \d+: TRNAMT"):
        parse_statement(_write(tmp_path, _ofx(_stmt(_trn("1,234.56", "G1")))))


def test_ledger_balance_checked_against_the_lines_between_two_statements(tmp_path):
    jan = _stmt(_trn("-100.00", "H1"), balance="<BALAMT>900.00\n<DTASOF>20240131\n")
    feb_ok = _stmt(_trn("-50.00", "H2", "20240210") + _trn("25.00", "H3", "20240215"),
                   balance="<BALAMT>875.00\n<DTASOF>20240229\n", dtend="20240229")
    stmt = parse_statement(_write(tmp_path, _ofx(jan, feb_ok)))
    assert stmt.warnings == []
    feb_bad = feb_ok.replace("<BALAMT>875.00", "<BALAMT>880.00")
    stmt = parse_statement(_write(tmp_path, _ofx(jan, feb_bad), "bad.qfx"))
    (warning,) = stmt.warnings
    assert (warning.code, warning.account_id, warning.date) == ("balance_mismatch", "55501234", date(2024, 2, 29))
    assert "875" in warning.message and "880" in warning.message
    assert stmt.summary()["warnings"][0]["code"] == "balance_mismatch"
