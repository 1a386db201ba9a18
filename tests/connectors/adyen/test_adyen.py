"""Adyen settlement reports (two column orders) and webhooks; batches net to their MerchantPayout."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.adyen import batch_totals, parse_file
from connectors.common.errors import ParseError
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


def test_bad_report_rows_name_their_line(tmp_path):
    bad = tmp_path / "report.csv"
    text = V1.read_text().replace(",31.15,", ",31.1.5,")
    bad.write_text(text)
    with pytest.raises(ParseError, match=r"report.csv, line 2: column 'Net Credit \(NC\)'"):
        parse_file(bad)
    cut = tmp_path / "cut.csv"
    cut.write_text(V1.read_text()[:700])
    with pytest.raises(ParseError, match=r"cut.csv, line 3: \d+ fields where the header has 30"):
        parse_file(cut)
    missing = tmp_path / "missing.csv"
    missing.write_text(V1.read_text().replace("Batch Number", "Batch"))
    with pytest.raises(ParseError, match="missing column.*Batch Number"):
        parse_file(missing)
