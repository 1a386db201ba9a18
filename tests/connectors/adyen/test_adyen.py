"""Adyen settlement reports (two column orders) and webhooks; batches net to their MerchantPayout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.adyen import batch_totals, parse_file
from connectors.common.errors import ParseError
from ledger_pipeline.cli import app
from ledger_pipeline.ingest.pipeline import ingest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "adyen"
V1 = FIXTURES / "settlement" / "settlement_detail_report_batch_380.csv"
V2 = FIXTURES / "settlement" / "settlement_detail_report_batch_381_v2.csv"


def _balances(store) -> dict[str, int]:
    with store.connect() as conn:
        return {n: int(v) for n, v in conn.all(
            "SELECT a.name, CAST(b.posted_debits - b.posted_credits AS BIGINT) FROM ledger_account_balances b "
            "JOIN ledger_accounts a ON a.id = b.ledger_account_id WHERE a.name LIKE 'adyen:%'")}


def test_both_report_versions_read_by_header_and_batches_net_to_the_payout():
    v1, v2 = parse_file(V1), parse_file(V2)
    assert batch_totals(v1) == {("YOURCOMPANY_ACCOUNT", "380", "USD"): {"net": 108905, "payout": -108905}}
    assert batch_totals(v2) == {("YOURCOMPANY_EUR", "381", "EUR"): {"net": 18920, "payout": -18920}}
    settled = v1[0].fields
    assert (settled["net"], settled["fees"], settled["gross"], settled["created"]) == (
        3115, 30, 3145, "2021-01-04T23:21:32+00:00")  # 00:21:32 CET
    fx = v2[1].fields  # gross in USD, settled in EUR: the NC amounts are posted
    assert (fx["gross_currency"], fx["gross_gc"], fx["currency"], fx["net"], fx["fees"]) == ("USD", 12000, "EUR", 9950, 130)


def test_settlement_posts_balanced_and_the_balance_returns_to_zero_after_the_payout(store):
    result = ingest(store, "adyen", files=[V1, V2])
    assert (result.landed, result.created, result.quarantined, result.unmapped) == (11, 11, 0, 0)
    got = _balances(store)
    assert got["adyen:balance:USD"] == 0 and got["adyen:balance:EUR"] == 0
    assert got["adyen:payouts_to_bank:USD"] == 108905 and got["adyen:payouts_to_bank:EUR"] == 18920
    assert got["adyen:gross_sales:USD"] == -(3145 + 120000)
    assert got["adyen:fees:USD"] == 30 + 2460 + 1500 + 250
    assert got["adyen:refunds:USD"] == 10000 and got["adyen:chargebacks:USD"] == 0
    assert got["adyen:adjustments:EUR"] == 1000
    again = ingest(store, "adyen", files=[V1, V2])
    assert (again.landed, again.created) == (0, 0)


def test_webhooks_are_landed_not_posted(store):
    hooks = sorted((FIXTURES / "webhooks").glob("*.json"))
    records = [r for h in hooks for r in parse_file(h)]
    assert {r.fields["type"] for r in records} >= {"AUTHORISATION", "CAPTURE", "REFUND"}
    result = ingest(store, "adyen", files=hooks)
    assert (result.landed, result.ignored, result.created, result.unmapped) == (len(records), len(records), 0, 0)


def _flags(records):
    return [(r.record_ref.rsplit(", ", 1)[-1], r.fields["quarantine"]["code"]) for r in records
            if r.fields.get("quarantine")]


def test_an_unreadable_row_is_quarantined_with_its_line_and_holds_back_only_its_batch(store, tmp_path):
    bad = tmp_path / "report.csv"
    bad.write_text(V1.read_text().replace(",31.15,", ",31.1.5,"))
    records = parse_file(bad)
    assert len(records) == len(parse_file(V1))
    unreadable = records[0]
    assert unreadable.fields["type"] == "unreadable_row"
    assert re.search(r"report.csv, line 2: column 'Net Credit \(NC\)'", unreadable.fields["quarantine"]["detail"])
    # the rest of batch 380 is held back (not posted in part); batch 381 in another file still posts
    assert {code for _, code in _flags(records)} == {"unreadable_row", "batch_incomplete"}
    result = ingest(store, "adyen", files=[bad, V2])
    assert (result.landed, result.created, result.quarantined) == (11, 4, 7)
    got = _balances(store)
    assert got["adyen:balance:EUR"] == 0 and "adyen:balance:USD" not in got
    with store.connect() as conn:
        reasons = dict(conn.all("SELECT reason_code, count(*) FROM quarantine GROUP BY reason_code"))
        line2 = conn.scalar("SELECT reason FROM quarantine WHERE reason_code = 'unreadable_row'")
    assert reasons == {"unreadable_row": 1, "batch_incomplete": 6}
    assert "report.csv, line 2: column 'Net Credit (NC)'" in line2

    cut = tmp_path / "cut.csv"
    cut.write_text(V1.read_text()[:700])
    records = parse_file(cut)
    assert re.search(r"cut.csv, line 3: \d+ fields where the header has 30",
                     records[-1].fields["quarantine"]["detail"])
    missing = tmp_path / "missing.csv"
    missing.write_text(V1.read_text().replace("Batch Number", "Batch"))
    with pytest.raises(ParseError, match="missing column.*Batch Number"):
        parse_file(missing)


def _report(tmp_path, name, rows, header=None):
    path = tmp_path / name
    path.write_text("\n".join([header or V2.read_text().splitlines()[0], *rows]) + "\n")
    return path


# a v2-ordered batch 512: Company, Merchant, Batch, Type, Psp, MerchantRef, ModRef, Method, Variant, Created, TZ,
# Booking, Booking TZ, Gross cur, Gross debit, Gross credit, Rate, Net cur, Net debit, Net credit, Commission,
# Markup, Scheme fees, Interchange, then 10 optional/reserved columns
_TAIL = ",,,,,,,,,,"


def _row(kind, psp, net_debit, net_credit, scheme="", commission=""):
    return (f"CompanyNL,SHOP_EUR,512,{kind},{psp},ORD-{psp[-3:]},,visa,visacredit,2024-06-03 10:15:00,CEST,"
            f"2024-06-04 06:00:00,CEST,EUR,,,1,EUR,{net_debit},{net_credit},{commission},,{scheme},"
            + _TAIL)


def test_amounts_without_a_leading_zero_parse(tmp_path):
    report = _report(tmp_path, "settlement_detail_report_batch_512.csv", [
        _row("Settled", "8815829012345001", "", "4.89", scheme=".11"),
        _row("Fee", "8815829012345002", ".25", ""),
        _row("MerchantPayout", "", "4.64", ""),
    ])
    records = parse_file(report)
    assert [(r.fields["type"], r.fields["net"], r.fields["fees"]) for r in records] == [
        ("Settled", 489, 11), ("Fee", -25, 0), ("MerchantPayout", -464, 0)]
    assert not _flags(records)


def test_a_batch_that_does_not_net_to_its_payout_is_a_named_warning_and_quarantined(store, tmp_path):
    rows = [_row("Settled", "8815829012345001", "", "100.00", commission="1.20"),
            _row("Refunded", "8815829012345002", "10.00", ""),
            _row("MerchantPayout", "", "89.00", "")]  # the rows net 90.00
    report = _report(tmp_path, "settlement_detail_report_batch_512.csv", rows)
    result = CliRunner().invoke(app, ["parse", "adyen", str(report), "--json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["data"]["warnings"]
    assert {w["code"] for w in warnings} == {"batch_net_mismatch"} and len(warnings) == 3
    assert "batch 512 of SHOP_EUR (EUR): the rows net 90.00 but the MerchantPayout is 89.00 (difference 1.00)" \
        in warnings[0]["detail"]
    assert all(w["quarantined_on_import"] for w in warnings)

    got = ingest(store, "adyen", files=[report])
    assert (got.landed, got.created, got.quarantined) == (3, 0, 3)
    assert "adyen:balance:EUR" not in _balances(store)
    with store.connect() as conn:
        assert conn.all("SELECT DISTINCT reason_code FROM quarantine") == [("batch_net_mismatch",)]

    # taken on purpose: posted, with the warning kept on each row
    taken = parse_file(report, verify=False)
    assert not _flags(taken) and all(r.fields["warnings"][0]["code"] == "batch_net_mismatch" for r in taken)


def test_a_batch_without_a_payout_row_carries_its_balance_without_a_warning(tmp_path):
    report = _report(tmp_path, "settlement_detail_report_batch_513.csv", [
        _row("Settled", "8815829012345001", "", "12.00")])
    assert not _flags(parse_file(report))


PAR_COLUMNS = ("Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,Booking Date,"
               "TimeZone,Record Type,Modification Psp Reference,Main Currency,Main Amount,Payment Currency,"
               "Received (PC),Exchange Rate,Authorised (PC),Captured (PC),Settlement Currency,Payable (SC),"
               "Commission (SC),Markup (SC),Scheme Fees (SC),Interchange (SC),Processing Fee Currency,"
               "Processing Fee (FC),User Name,Payment Method Variant,Modification Merchant Reference,Reserved3,"
               "Reserved4,Reserved5,Reserved6,Reserved7,Reserved8,Reserved9,Reserved10").split(",")


def _par_row(**values):
    base = {"Company Account": "CompanyNL", "Merchant Account": "SHOP_EUR", "Psp Reference": "8815829012345001",
            "Merchant Reference": "ORD-001", "Payment Method": "visa", "TimeZone": "CEST", "Main Currency": "EUR",
            "Main Amount": "25.00", "Payment Currency": "EUR", "User Name": "ws@Company.CompanyNL",
            "Payment Method Variant": "visacredit"}
    row = {**base, **values}
    return ",".join(row.get(c, "") for c in PAR_COLUMNS)


def test_payments_accounting_report_is_read_and_landed_not_posted(store, tmp_path):
    report = _report(tmp_path, "payments_accounting_report_2024_06_03.csv", [
        _par_row(**{"Booking Date": "2024-06-03 10:15:00", "Record Type": "Received", "Received (PC)": "25.00",
                    "Processing Fee Currency": "EUR", "Processing Fee (FC)": ".11"}),
        _par_row(**{"Booking Date": "2024-06-03 10:15:01", "Record Type": "Authorised", "Authorised (PC)": "25.00"}),
        _par_row(**{"Booking Date": "2024-06-05 02:00:00", "Record Type": "Settled",
                    "Modification Psp Reference": "8815829012399999", "Captured (PC)": "25.00",
                    "Exchange Rate": "1", "Settlement Currency": "EUR", "Payable (SC)": "24.53",
                    "Markup (SC)": ".12", "Scheme Fees (SC)": ".05", "Interchange (SC)": ".30"}),
    ], header=",".join(PAR_COLUMNS))
    records = parse_file(report)
    assert {r.stream for r in records} == {"payments_accounting"}
    settled = records[2].fields
    assert (settled["type"], settled["captured"], settled["payable"], settled["fees"], settled["booked"]) == (
        "Settled", 2500, 2453, 47, "2024-06-05T00:00:00+00:00")
    assert settled["modification_reference"] == "8815829012399999"
    received = records[0].fields
    assert (received["received"], received["processing_fee"], received["processing_fee_currency"]) == (2500, 11, "EUR")
    got = ingest(store, "adyen", files=[report])
    assert (got.landed, got.ignored, got.created, got.quarantined) == (3, 3, 0, 0)


def test_a_batch_taken_with_verify_false_posts_and_leaves_the_difference_visible(store, tmp_path):
    report = _report(tmp_path, "settlement_detail_report_batch_514.csv", [
        _row("Settled", "8815829012345001", "", "100.00", commission="1.20"),
        _row("MerchantPayout", "", "99.00", "")])
    got = ingest(store, "adyen", files=[report], file_options={"verify": False})
    assert (got.landed, got.created, got.quarantined) == (2, 2, 0)
    assert _balances(store)["adyen:balance:EUR"] == 100
