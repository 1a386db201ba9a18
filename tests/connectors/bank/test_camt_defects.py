"""camt.053/054 controls and refusals: balances checked, UTC booking times dated by the statement's day,
signed/absurd amounts and bad currency codes refused with the file and line."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.bank import parse_statement
from connectors.common.errors import ParseError

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def _bal(code: str, amount: str, ind: str, day: str = "2014-01-05", ccy: str = "EUR") -> str:
    return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{ccy}\">{amount}</Amt>"
            f"<CdtDbtInd>{ind}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>\n")


def _ntry(amount: str, ind: str, booked: str = "<Dt>2014-01-05</Dt>", ccy: str = "EUR") -> str:
    return (f"<Ntry><Amt Ccy=\"{ccy}\">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd><Sts>BOOK</Sts>"
            f"<BookgDt>{booked}</BookgDt><ValDt><Dt>2014-01-05</Dt></ValDt>"
            f"<AcctSvcrRef>REF{amount}</AcctSvcrRef><BkTxCd><Prtry><Cd>NTRF</Cd></Prtry></BkTxCd></Ntry>\n")


def _camt(entries: str, opening: str = "100.00", closing: str = "81.85", created: str = "2014-01-05T08:00:00+01:00",
          tag: str = "Stmt", root: str = "BkToCstmrStmt", ns: str = NS, period: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}">\n<{root}>\n'
            f"<GrpHdr><MsgId>MSG1</MsgId><CreDtTm>{created}</CreDtTm></GrpHdr>\n"
            f"<{tag}><Id>STMT-2014-01-05</Id><CreDtTm>{created}</CreDtTm>{period}\n"
            f"<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id><Ccy>EUR</Ccy></Acct>\n"
            + (_bal("OPBD", opening, "CRDT") + _bal("CLBD", closing, "CRDT") if opening else "")
            + entries + f"</{tag}>\n</{root}>\n</Document>\n")


def _write(tmp_path, text: str, name: str = "stmt.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_opening_plus_entries_equals_closing_or_a_named_warning(tmp_path):
    ok = parse_statement(_write(tmp_path, _camt(_ntry("18.15", "DBIT"))))
    assert ok.warnings == [] and ok.accounts[0].closing_balance == 8185
    bad = parse_statement(_write(tmp_path, _camt(_ntry("18.15", "DBIT"), closing="80.00"), "bad.xml"))
    (warning,) = bad.warnings
    assert (warning.code, warning.account_id, warning.date) == ("balance_mismatch", "NL91ABNA0417164300",
                                                                 date(2014, 1, 5))
    assert "8185" in warning.message and "8000" in warning.message and warning.location.startswith("line 5")
    assert bad.lines and bad.accounts  # kept, flagged: not refused


def test_utc_booking_time_is_dated_by_the_statements_day(tmp_path):
    stmt = parse_statement(_write(tmp_path, _camt(_ntry("18.15", "DBIT", "<DtTm>2014-01-04T23:00Z</DtTm>"))))
    assert stmt.lines[0].date == date(2014, 1, 5)  # 00:00 in the statement's +01:00
    period = ("<FrToDt><FrDtTm>2014-01-05T00:00:00</FrDtTm><ToDtTm>2014-01-05T23:59:59</ToDtTm></FrToDt>")
    utc = parse_statement(_write(tmp_path, _camt(_ntry("18.15", "DBIT", "<DtTm>2014-01-04T23:00:00Z</DtTm>"),
                                                 created="2014-01-05T08:00:00Z", period=period), "utc.xml"))
    assert utc.lines[0].date == date(2014, 1, 5)  # no offset given, but the statement is of one day
    local = parse_statement(_write(tmp_path, _camt(_ntry("18.15", "DBIT", "<DtTm>2014-01-05T23:30:00</DtTm>")),
                                   "local.xml"))
    assert local.lines[0].date == date(2014, 1, 5)


@pytest.mark.parametrize("amount", ["-18.15", "+18.15"])
def test_signed_amount_is_refused_never_flipped(tmp_path, amount):
    with pytest.raises(ParseError, match=r"stmt\.xml, line 9 \(statement 1 .*entry 1\): amount .* is signed"):
        parse_statement(_write(tmp_path, _camt(_ntry(amount, "CRDT"))))


def test_currency_must_be_three_letters(tmp_path):
    with pytest.raises(ParseError, match=r"stmt\.xml, line 9 .*currency \"US'D\" is not a 3-letter"):
        parse_statement(_write(tmp_path, _camt(_ntry("18.15", "DBIT", ccy="US'D"))))


@pytest.mark.parametrize("amount", ["Infinity", "sNaN", "NaN", "1E+999999999", "1e2", "9" * 5000, "1." + "0" * 40,
                                    "12,50", ""])
def test_absurd_amounts_are_parse_errors_with_the_line(tmp_path, amount):
    with pytest.raises(ParseError, match=r"stmt\.xml, line 9 \(statement 1 .*entry 1\): amount"):
        parse_statement(_write(tmp_path, _camt(_ntry(amount, "DBIT"))))


def test_camt054_notification_without_balances(tmp_path):
    text = _camt(_ntry("18.15", "DBIT", "<DtTm>2014-01-04T23:00Z</DtTm>") + _ntry("5.00", "CRDT"), opening="",
                 tag="Ntfctn", root="BkToCstmrDbtCdtNtfctn", ns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.04")
    stmt = parse_statement(_write(tmp_path, text, "ntf.xml"))
    assert stmt.format == "camt054" and stmt.warnings == []
    assert [(x.date, x.amount_minor) for x in stmt.lines] == [(date(2014, 1, 5), -1815), (date(2014, 1, 5), 500)]
    (acct,) = stmt.accounts
    assert acct.opening_balance is None and acct.closing_balance is None and acct.debits_total == 1815
