"""BAI2 as real banks write it: SVB's padded 03 continuations, signed detail amounts, wrong trailers."""

from __future__ import annotations

import pytest

from connectors.bank import parse_statement
from connectors.common.errors import ParseError

SVB = """01,SVBUSA,ACMECORP,240105,0600,1,,,2/
02,ACMECORP,SVBUSA,1,240104,,USD,2/
03,3300123456,USD,,,/
88,100,490196,1,,400,000,0,/
88,010,1250000,,,015,1740196,,/
16,195,490196,,FW1234,INV-77,WIRE IN ACME SUPPLY CO/
49,3970588,5/
98,3970588,1,7/
99,3970588,1,9/
"""


def _write(tmp_path, text, name="svb.bai2"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_svb_continuation_with_empty_funds_type_and_padded_03(tmp_path):
    stmt = parse_statement(_write(tmp_path, SVB))
    (account,) = stmt.accounts
    assert (account.account_id, account.currency) == ("3300123456", "USD")
    assert (account.opening_balance, account.closing_balance) == (1250000, 1740196)
    (line,) = stmt.lines
    assert (line.amount_minor, line.type_code, line.text) == (490196, "195", "WIRE IN ACME SUPPLY CO")
    assert stmt.warnings == []


@pytest.mark.parametrize("amount", ["-490196", "+490196"])
def test_signed_detail_amount_is_refused(tmp_path, amount):
    path = _write(tmp_path, SVB.replace("16,195,490196,", f"16,195,{amount},"))
    with pytest.raises(ParseError, match=r"svb\.bai2, line 6: detail amount .* is signed"):
        parse_statement(path, verify=False)


def test_wrong_trailers_are_errors_or_named_warnings(tmp_path):
    path = _write(tmp_path, SVB.replace("49,3970588,5/", "49,3970000,5/"))
    with pytest.raises(ParseError, match=r"svb\.bai2, line 7: account 3300123456 control total 3970000"):
        parse_statement(path)
    stmt = parse_statement(path, verify=False)
    codes = [(w.code, w.account_id, w.location) for w in stmt.warnings]
    assert ("control_total_mismatch", "3300123456", "line 7") in codes
    assert all(w.code == "control_total_mismatch" for w in stmt.warnings)
    assert stmt.summary()["warnings"][0]["code"] == "control_total_mismatch"
    counts = _write(tmp_path, SVB.replace("98,3970588,1,7/", "98,3970588,1,8/"), "counts.bai2")
    assert [w.code for w in parse_statement(counts, verify=False).warnings] == ["record_count_mismatch"]


def test_summary_group_cut_by_an_88_keeps_its_place(tmp_path):
    text = SVB.replace("03,3300123456,USD,,,/\n88,100,490196,1,,400,000,0,/\n88,010,1250000,,,015,1740196,,/",
                       "03,3300123456,USD,010,1250000,,,100/\n88,490196,1,D,2,0,400000,1,90196,400/\n"
                       "88,000,0,,015,1740196,,/")
    split_d = text.replace("88,490196,1,D,2,0,400000,1,90196,400/", "88,490196,1,D/\n88,2,0,400000,1,90196,400/")
    split_d = split_d.replace("49,3970588,5/", "49,3970588,6/").replace("98,3970588,1,7/", "98,3970588,1,8/")
    split_d = split_d.replace("99,3970588,1,9/", "99,3970588,1,10/")
    for name, body in (("cut.bai2", text), ("cut_d.bai2", split_d)):
        stmt = parse_statement(_write(tmp_path, body, name))
        assert (stmt.accounts[0].opening_balance, stmt.accounts[0].closing_balance) == (1250000, 1740196)
        assert stmt.warnings == [] and stmt.lines[0].amount_minor == 490196
