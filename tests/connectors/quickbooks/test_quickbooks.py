"""QuickBooks Online against recorded sandbox responses (tests/fixtures/quickbooks, from minimul/qbo_api,
MIT) served by a local HTTP server: paging of the query endpoint, the cursor, and change data capture
with a deleted invoice that the ledger then reverses, plus a void."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.wrappers import Response

from connectors.quickbooks import extract_entity, helpers, make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors.connectors2_support import (
    FIXTURES,
    account_balances,
    assert_ledger_invariants,
    dumps,
    fixture,
    ledger_transactions,
    net,
)

REALM = "4620816365"
COMPANY = f"/v3/company/{REALM}"


def _sales_receipts():
    return fixture("quickbooks", "all__sales_receipts__0.json")["QueryResponse"]["SalesReceipt"]


def test_every_fixture_parses_with_exact_amounts():
    for path in sorted((FIXTURES / "quickbooks").glob("*.json")):
        for record in parse_file(path):
            assert record.source == "quickbooks"
            amount = record.fields.get("amount")
            assert amount is None or isinstance(amount, int)
    receipts = parse_file(FIXTURES / "quickbooks" / "all__sales_receipts__0.json")
    assert [r.fields["amount"] for r in receipts] == [33750, 33750, 14000, 7875]  # 337.5, 337.5, 140, 78.75
    deleted = parse_file(FIXTURES / "quickbooks" / "delete__invoice__1.json")
    assert [(r.fields["type"], r.fields["action"], r.fields["reverses_object_id"]) for r in deleted] == [
        ("reversal", "reverse", "Invoice:266")]
    voided = parse_file(FIXTURES / "quickbooks" / "void__invoice__1.json")
    assert voided[0].fields["reason"] == "voided" and voided[0].fields["reverses_object_id"] == "Invoice:264"


def test_journal_entry_lines_balance_against_the_clearing_account():
    entry = {"Id": "9", "SyncToken": "0", "TxnDate": "2024-02-01", "CurrencyRef": {"value": "USD"},
             "MetaData": {"LastUpdatedTime": "2024-02-01T10:00:00-08:00"},
             "Line": [
                 {"Id": "0", "Amount": "125.10", "DetailType": "JournalEntryLineDetail",
                  "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": "7", "name": "Rent"}}},
                 {"Id": "1", "Amount": "125.10", "DetailType": "JournalEntryLineDetail",
                  "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "35", "name": "Bank"}}},
             ]}
    records = helpers.parse_entity("JournalEntry", entry)
    assert [(r.object_id, r.fields["signed_amount"], r.fields["account_id"]) for r in records] == [
        ("JournalEntry:9:line:0", 12510, "7"), ("JournalEntry:9:line:1", -12510, "35")]
    assert sum(r.fields["signed_amount"] for r in records) == 0


def test_query_pages_follow_startposition(httpserver):
    receipts = _sales_receipts()
    seen = []

    def handler(request):
        statement = request.args["query"]
        seen.append(statement)
        start = int(statement.split("STARTPOSITION ")[1].split()[0])
        page = receipts[start - 1:start + 1]
        return Response(dumps({"QueryResponse": {"SalesReceipt": page} if page else {}}),
                        content_type="application/json")

    httpserver.expect_request(f"{COMPANY}/query").respond_with_handler(handler)
    with make_client(httpserver.url_for(""), realm_id=REALM, max_retries=0) as client:
        result = extract_entity(client, None, "SalesReceipt", page_size=2)
    assert len(seen) == 3 and "STARTPOSITION 3 MAXRESULTS 2" in seen[1]
    assert "WHERE" not in seen[0]  # a first run reads everything
    assert sorted(r.object_id for r in result.records) == ["SalesReceipt:11", "SalesReceipt:17",
                                                          "SalesReceipt:38", "SalesReceipt:47"]
    assert result.cursor == "2020-09-29T13:00:44+00:00"  # the latest LastUpdatedTime seen


class _QboServer:
    """A stateful fake: run 1 serves two invoices; run 2 serves the voided one and a CDC page with a deletion."""

    def __init__(self):
        self.run = 1
        self.cdc_calls = []
        self.queries = []

    def query(self, request):
        self.queries.append(request.args["query"])
        entity = request.args["query"].split(" FROM ")[1].split()[0]
        items = []
        if entity == "Invoice":
            items = ([fixture("quickbooks", "void__invoice__0.json")["Invoice"],
                      fixture("quickbooks", "create__invoice__0.json")["Invoice"]] if self.run == 1
                     else [fixture("quickbooks", "void__invoice__1.json")["Invoice"]])
        return Response(dumps({"QueryResponse": {entity: items} if items else {}}),
                        content_type="application/json")

    def cdc(self, request):
        self.cdc_calls.append(dict(request.args))
        body = fixture("quickbooks", "cdc__basic__0.json")
        if request.args["entities"] == "Invoice":
            deleted = fixture("quickbooks", "delete__invoice__1.json")["Invoice"]
            body["CDCResponse"][0]["QueryResponse"].append({"Invoice": [deleted]})
        return Response(dumps(body), content_type="application/json")


@pytest.fixture
def qbo(httpserver, monkeypatch):
    server = _QboServer()
    httpserver.expect_request(f"{COMPANY}/query").respond_with_handler(server.query)
    httpserver.expect_request(f"{COMPANY}/cdc").respond_with_handler(server.cdc)
    monkeypatch.setenv("QUICKBOOKS_REALM_ID", REALM)
    monkeypatch.setenv("QUICKBOOKS_ACCESS_TOKEN", "test-token")
    return server


def test_cdc_deletion_and_void_reverse_the_ledger(store, httpserver, qbo):
    base_url = httpserver.url_for("")
    first = ingest(store, "quickbooks", api=True, base_url=base_url, streams=["invoices"])
    assert first.created == 2 and first.quarantined == 0, first.as_dict()
    assert qbo.cdc_calls == []  # nothing to capture on a full load
    txs = ledger_transactions(store, "quickbooks")
    assert {k: v["debits"] for k, v in txs.items()} == {"quickbooks:Invoice:264": 10000,
                                                         "quickbooks:Invoice:266": 10000}
    receivable = "quickbooks:accounts_receivable:USD"
    assert net(account_balances(store, receivable)[receivable]) == 20000

    qbo.run = 2
    second = ingest(store, "quickbooks", api=True, base_url=base_url, streams=["invoices"])
    assert qbo.cdc_calls and qbo.cdc_calls[0]["entities"] == "Invoice"
    assert "LastUpdatedTime >= '2020-09-29T12:48:07+00:00'" in qbo.queries[-1]  # cursor minus the lookback
    txs = ledger_transactions(store, "quickbooks")
    assert txs["quickbooks:Invoice:266:reversal"]["reverses_id"] == txs["quickbooks:Invoice:266"]["id"]
    assert txs["quickbooks:Invoice:264:reversal"]["reverses_id"] == txs["quickbooks:Invoice:264"]["id"]
    assert second.created == 2, second.as_dict()
    assert net(account_balances(store, receivable)[receivable]) == 0

    third = ingest(store, "quickbooks", api=True, base_url=base_url, streams=["invoices"])
    assert third.landed == 0 and third.created == 0  # the same pages again change nothing
    assert len(ledger_transactions(store, "quickbooks")) == 4
    assert_ledger_invariants(store)


def test_cdc_window_is_clamped_to_thirty_days(httpserver, qbo):
    with make_client(httpserver.url_for(""), realm_id=REALM, max_retries=0) as client:
        extract_entity(client, "2020-01-01T00:00:00+00:00", "Invoice", now=datetime(2024, 3, 31, tzinfo=UTC))
    assert qbo.cdc_calls[0]["changedSince"] == "2024-03-01T00:01:00+00:00"


def test_deletion_redelivered_or_of_an_unknown_object_reverses_once(store, tmp_path):
    created = FIXTURES / "quickbooks" / "create__invoice__0.json"
    deleted = fixture("quickbooks", "delete__invoice__1.json")
    first = tmp_path / "deleted.json"
    first.write_text(dumps(deleted))
    again = tmp_path / "deleted_again.json"  # the same deletion with another response time: lands anew
    again.write_text(dumps({**deleted, "time": "2020-09-29T06:09:00.000-07:00",
                            "Invoice": {**deleted["Invoice"], "MetaData": {"LastUpdatedTime": "2020-09-29T06:02:35-07:00"}}}))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(dumps({"Invoice": {"domain": "QBO", "status": "Deleted", "Id": "999"}}))
    ingest(store, "quickbooks", files=[created])
    for path in (first, again, unknown):
        result = ingest(store, "quickbooks", files=[path])
        assert result.quarantined == 0, result.as_dict()
    txs = ledger_transactions(store, "quickbooks")
    assert sorted(txs) == ["quickbooks:Invoice:266", "quickbooks:Invoice:266:reversal"]
    assert_ledger_invariants(store)
