"""Adyen API mode: Settlement Details Reports downloaded batch after batch from a local server with Adyen's
report download path and API key header; the cursor is the last batch downloaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from werkzeug import Request, Response

from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors.api_support import assert_ledger_invariants

SETTLEMENT = Path(__file__).resolve().parents[2] / "fixtures" / "adyen" / "settlement"
V1 = SETTLEMENT / "settlement_detail_report_batch_380.csv"
V2 = SETTLEMENT / "settlement_detail_report_batch_381_v2.csv"
MERCHANT = "YOURCOMPANY_ACCOUNT"
KEY = "report-user-key"


class ReportServer:
    """``GET /reports/download/MerchantAccount/<merchant>/settlement_detail_report_batch_<n>.csv``: 401 without
    the API key, 404 for a batch whose report is not there (yet)."""

    def __init__(self):
        self.reports = {380: V1.read_bytes(), 381: V2.read_bytes()}
        self.requests: list[tuple[int, str | None]] = []

    def __call__(self, request: Request) -> Response:
        batch = int(re.search(r"_batch_(\d+)\.csv$", request.path).group(1))
        self.requests.append((batch, request.headers.get("X-API-Key")))
        if request.headers.get("X-API-Key") != KEY:
            return Response("unauthorised", status=401)
        if batch not in self.reports:
            return Response("not found", status=404)
        return Response(self.reports[batch], content_type="text/csv")


@pytest.fixture
def reports(httpserver, monkeypatch):
    server = ReportServer()
    httpserver.expect_request(re.compile(
        rf"^/reports/download/MerchantAccount/{MERCHANT}/settlement_detail_report_batch_\d+\.csv$"),
    ).respond_with_handler(server)
    monkeypatch.setenv("ADYEN_MERCHANT_ACCOUNT", MERCHANT)
    monkeypatch.setenv("ADYEN_REPORT_API_KEY", KEY)
    monkeypatch.setenv("ADYEN_FIRST_BATCH", "380")
    return server


def _balances(store) -> dict[str, int]:
    with store.connect() as conn:
        return {n: int(v) for n, v in conn.all(
            "SELECT a.name, CAST(b.posted_debits - b.posted_credits AS BIGINT) FROM ledger_account_balances b "
            "JOIN ledger_accounts a ON a.id = b.ledger_account_id WHERE a.name LIKE 'adyen:%'")}


def test_batches_download_until_one_is_missing_and_a_second_run_adds_nothing(store, httpserver, reports):
    url = httpserver.url_for("")
    first = ingest(store, "adyen", api=True, base_url=url)
    assert (first.landed, first.created, first.quarantined, first.unmapped) == (11, 11, 0, 0)
    assert first.cursors == {"settlement_details": "381"}
    assert reports.requests == [(380, KEY), (381, KEY), (382, KEY)]  # the missing batch 382 ends the pull
    got = _balances(store)
    assert got["adyen:balance:USD"] == 0 and got["adyen:payouts_to_bank:USD"] == 108905
    with store.connect() as conn:
        assert conn.scalar("SELECT cursor FROM connector_cursors WHERE source = 'adyen'") == "381"
        refs = [r for (r,) in conn.all("SELECT record_ref FROM raw_records WHERE source = 'adyen'")]
    assert f"/reports/download/MerchantAccount/{MERCHANT}/settlement_detail_report_batch_380.csv, line 2" in \
        " ".join(refs)  # a row is named by the report's URL and line

    reports.requests.clear()
    again = ingest(store, "adyen", api=True, base_url=url)
    assert (again.landed, again.created, again.entries_posted) == (0, 0, 0)
    assert reports.requests == [(382, KEY)] and again.cursors == {"settlement_details": "381"}

    reports.reports[382] = V1.read_bytes().replace(b",380,", b",382,")  # Adyen closes the next batch
    reports.requests.clear()
    third = ingest(store, "adyen", api=True, base_url=url)
    assert (third.landed, third.created, third.quarantined) == (7, 7, 0)
    assert [b for b, _ in reports.requests] == [382, 383] and third.cursors == {"settlement_details": "382"}
    assert _balances(store)["adyen:payouts_to_bank:USD"] == 2 * 108905
    assert_ledger_invariants(store)


def test_a_wrong_api_key_fails_and_keeps_the_cursor(store, httpserver, reports, monkeypatch):
    monkeypatch.setenv("ADYEN_REPORT_API_KEY", "wrong")
    with pytest.raises(Exception, match=r"settlement_detail_report_batch_380\.csv failed with HTTP 401"):
        ingest(store, "adyen", api=True, base_url=httpserver.url_for(""))
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM connector_cursors") == 0
