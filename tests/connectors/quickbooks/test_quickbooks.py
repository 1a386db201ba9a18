"""QuickBooks Online against recorded sandbox responses (tests/fixtures/quickbooks, from minimul/qbo_api,
MIT) served by a local HTTP server: paging of the query endpoint, the cursor, and change data capture
with a deleted invoice that the ledger then reverses, plus a void."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from connectors.common.errors import ParseError
from connectors.quickbooks import extract_entity, helpers, make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

REALM = "4620816365"
COMPANY = f"/v3/company/{REALM}"


def _sales_receipts():
    return support.fixture("quickbooks", "all__sales_receipts__0.json")["QueryResponse"]["SalesReceipt"]


def test_every_fixture_parses_with_exact_amounts():
    for path in sorted((support.FIXTURES / "quickbooks").glob("*.json")):
        for record in parse_file(path):
            assert record.source == "quickbooks"
            amount = record.fields.get("amount")
            assert amount is None or isinstance(amount, int)
    receipts = parse_file(support.FIXTURES / "quickbooks" / "all__sales_receipts__0.json")
    assert [r.fields["amount"] for r in receipts] == [33750, 33750, 14000, 7875]  # 337.5, 337.5, 140, 78.75
    deleted = parse_file(support.FIXTURES / "quickbooks" / "delete__invoice__1.json")
    assert [(r.fields["type"], r.fields["action"], r.fields["reverses_object_id"]) for r in deleted] == [
        ("reversal", "reverse", "Invoice:266")]
    voided = parse_file(support.FIXTURES / "quickbooks" / "void__invoice__1.json")
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
        return support.json_response({"QueryResponse": {"SalesReceipt": page} if page else {}})

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
            items = ([support.fixture("quickbooks", "void__invoice__0.json")["Invoice"],
                      support.fixture("quickbooks", "create__invoice__0.json")["Invoice"]] if self.run == 1
                     else [support.fixture("quickbooks", "void__invoice__1.json")["Invoice"]])
        return support.json_response({"QueryResponse": {entity: items} if items else {}})

    def cdc(self, request):
        self.cdc_calls.append(dict(request.args))
        body = support.fixture("quickbooks", "cdc__basic__0.json")
        if request.args["entities"] == "Invoice":
            deleted = support.fixture("quickbooks", "delete__invoice__1.json")["Invoice"]
            body["CDCResponse"][0]["QueryResponse"].append({"Invoice": [deleted]})
        return support.json_response(body)


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
    txs = support.ledger_transactions(store, "quickbooks")
    assert {k: v["debits"] for k, v in txs.items()} == {"quickbooks:Invoice:264": 10000,
                                                         "quickbooks:Invoice:266": 10000}
    receivable = "quickbooks:accounts_receivable:USD"
    assert support.net(support.account_balances(store, receivable)[receivable]) == 20000

    qbo.run = 2
    second = ingest(store, "quickbooks", api=True, base_url=base_url, streams=["invoices"])
    assert qbo.cdc_calls and qbo.cdc_calls[0]["entities"] == "Invoice"
    assert "LastUpdatedTime >= '2020-09-29T12:48:07+00:00'" in qbo.queries[-1]  # cursor minus the lookback
    txs = support.ledger_transactions(store, "quickbooks")
    assert txs["quickbooks:Invoice:266:reversal"]["reverses_id"] == txs["quickbooks:Invoice:266"]["id"]
    assert txs["quickbooks:Invoice:264:reversal"]["reverses_id"] == txs["quickbooks:Invoice:264"]["id"]
    assert second.created == 2, second.as_dict()
    assert support.net(support.account_balances(store, receivable)[receivable]) == 0

    third = ingest(store, "quickbooks", api=True, base_url=base_url, streams=["invoices"])
    assert third.landed == 0 and third.created == 0  # the same pages again change nothing
    assert len(support.ledger_transactions(store, "quickbooks")) == 4
    support.assert_ledger_invariants(store)


def test_cdc_window_is_clamped_to_thirty_days(httpserver, qbo):
    with make_client(httpserver.url_for(""), realm_id=REALM, max_retries=0) as client:
        extract_entity(client, "2020-01-01T00:00:00+00:00", "Invoice", now=datetime(2024, 3, 31, tzinfo=UTC))
    assert qbo.cdc_calls[0]["changedSince"] == "2024-03-01T00:01:00+00:00"


def test_deletion_redelivered_or_of_an_unknown_object_reverses_once(store, tmp_path):
    created = support.FIXTURES / "quickbooks" / "create__invoice__0.json"
    deleted = support.fixture("quickbooks", "delete__invoice__1.json")
    first = tmp_path / "deleted.json"
    first.write_text(support.dumps(deleted))
    again = tmp_path / "deleted_again.json"  # the same deletion with another response time: lands anew
    again.write_text(support.dumps({**deleted, "time": "2020-09-29T06:09:00.000-07:00",
                            "Invoice": {**deleted["Invoice"], "MetaData": {"LastUpdatedTime": "2020-09-29T06:02:35-07:00"}}}))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(support.dumps({"Invoice": {"domain": "QBO", "status": "Deleted", "Id": "999"}}))
    ingest(store, "quickbooks", files=[created])
    for path in (first, again, unknown):
        result = ingest(store, "quickbooks", files=[path])
        assert result.quarantined == 0, result.as_dict()
    txs = support.ledger_transactions(store, "quickbooks")
    assert sorted(txs) == ["quickbooks:Invoice:266", "quickbooks:Invoice:266:reversal"]
    support.assert_ledger_invariants(store)


# A JournalEntry as GET /v3/company/<realm>/journalentry/<id> returns it: no QueryResponse or CDC wrapper.
_JOURNAL_ENTRY = {
    "Adjustment": False, "TotalAmt": 1250.00, "domain": "QBO", "sparse": False, "Id": "227", "SyncToken": "0",
    "MetaData": {"CreateTime": "2024-03-05T10:12:09-08:00", "LastUpdatedTime": "2024-03-05T10:12:09-08:00"},
    "DocNumber": "JE-0042", "TxnDate": "2024-03-05", "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
    "Line": [
        {"Id": "0", "Description": "March rent", "Amount": 1250.00, "DetailType": "JournalEntryLineDetail",
         "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": "7", "name": "Rent or Lease"}}},
        {"Id": "1", "Description": "March rent", "Amount": 1250.00, "DetailType": "JournalEntryLineDetail",
         "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "35", "name": "Checking"}}},
    ],
}


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(support.dumps(body) if not isinstance(body, str) else body)
    return path


def test_an_entity_read_by_id_is_read_and_posted(store, tmp_path):
    path = _write(tmp_path, "journalentry_227.json", {"JournalEntry": _JOURNAL_ENTRY,
                                                      "time": "2024-03-05T10:15:44.171-08:00"})
    records = parse_file(path)
    assert [(r.object_id, r.fields["signed_amount"]) for r in records] == [
        ("JournalEntry:227:line:0", 125000), ("JournalEntry:227:line:1", -125000)]
    listed = _write(tmp_path, "journalentries.json", {"JournalEntry": [_JOURNAL_ENTRY], "time": "2024-03-05T10:15:44Z"})
    assert [r.object_id for r in parse_file(listed)] == [r.object_id for r in records]
    batch = _write(tmp_path, "batch.json", {"BatchItemResponse": [{"JournalEntry": _JOURNAL_ENTRY, "bId": "bid1"}],
                                            "time": "2024-03-05T10:15:44Z"})
    assert [r.object_id for r in parse_file(batch)] == [r.object_id for r in records]
    result = ingest(store, "quickbooks", files=[path])
    assert (result.landed, result.created, result.quarantined) == (2, 2, 0)


@pytest.mark.parametrize("name, body, message", [
    ("fault.json", {"Fault": {"Error": [{"Message": "Object Not Found", "Detail": "Object Not Found : Something you're "
                    "trying to use has been made inactive.", "code": "610"}], "type": "ValidationFault"},
                    "time": "2024-03-05T10:15:44.171-08:00"}, r"an error response \(Fault\), not data: 610 Object Not Found"),
    ("other.json", {"Report": "ProfitAndLoss", "time": "2024-03-05T10:15:44Z"}, "not a QuickBooks query, CDC, batch or "
                   "entity response"),
    ("no_lines.json", {"JournalEntry": {**_JOURNAL_ENTRY, "Line": []}, "time": "2024-03-05T10:15:44Z"},
     r"JournalEntry 227: yields no record"),
    ("batch_fault.json", {"BatchItemResponse": [{"Fault": {"Error": [{"Message": "Duplicate Document Number Error",
                                                                     "code": "6140"}]}, "bId": "bid7"}]},
     r"batch item bid7: an error response \(Fault\)"),
    ("bad_amount.json", {"JournalEntry": {**_JOURNAL_ENTRY, "Line": [{**_JOURNAL_ENTRY["Line"][0], "Amount": 12.345}]}},
     "JournalEntry 227: "),
])
def test_anything_unrecognised_is_an_error_naming_the_file(tmp_path, name, body, message):
    path = _write(tmp_path, name, body)
    with pytest.raises(ParseError, match=rf"^{re.escape(str(path))}, .*{message}|^{re.escape(str(path))}: .*{message}"):
        parse_file(path)
