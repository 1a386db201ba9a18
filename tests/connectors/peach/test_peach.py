"""Peach through a local server. Peach publishes no payloads: tests/fixtures/peach was written for this
project with the documented field names (``data`` lists, ``startingAfter`` paging, ``actualAmount``,
``status``, ``atOrigination.amountFinanced``, fees)."""

from __future__ import annotations

import copy

import pytest

from connectors.peach import extract_transactions, make_client
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

LOAN = "LN-ABCD-1234"
PERSON = "BO-WXYZ-5678"


class _Server:
    def __init__(self):
        self.loans = support.fixture("peach", "loans.json")["data"]
        self.transactions = support.fixture("peach", "transactions.json")["data"]
        self.fees = support.fixture("peach", "fees.json")["data"]
        self.after: list[str | None] = []

    def lister(self, name):
        def handler(request):
            items = getattr(self, name)
            after = request.args.get("startingAfter")
            if name == "transactions":
                self.after.append(after)
            start = 0 if after is None else [i["id"] for i in items].index(after) + 1
            limit = int(request.args["limit"])
            page = items[start:start + limit]
            return support.json_response({"status": 200, "message": "Success", "data": page,
                                          "nextUrl": "next" if start + limit < len(items) else None})
        return handler


@pytest.fixture
def server(httpserver, monkeypatch):
    s = _Server()
    httpserver.expect_request("/loans").respond_with_handler(s.lister("loans"))
    for loan in s.loans:
        base = f"/people/{PERSON}/loans/{loan['id']}"
        txs = s.lister("transactions") if loan["id"] == LOAN else (lambda r: support.json_response({"data": []}))
        fees = s.lister("fees") if loan["id"] == LOAN else (lambda r: support.json_response({"data": []}))
        httpserver.expect_request(f"{base}/transactions").respond_with_handler(txs)
        httpserver.expect_request(f"{base}/fees").respond_with_handler(fees)
    monkeypatch.setenv("PEACH_API_KEY", "k")
    return s


def test_loans_payments_credits_and_fees(store, httpserver, server):
    with make_client(httpserver.url_for(""), max_retries=0) as client:
        result = extract_transactions(client, None, page_size=2)
    assert server.after[-2:] == [None, "TX-0002-BBBB"]  # startingAfter the last id of the first page
    assert {r.object_id: r.fields["amount"] for r in result.records} == {
        f"disbursement:{LOAN}": 500000, "transaction:TX-0003-AAAA": 25000, "transaction:TX-0002-BBBB": 2550,
        "transaction:TX-0001-CCCC": 41237}

    first = ingest(store, "peach", api=True, base_url=httpserver.url_for(""))
    assert first.quarantined == 0 and first.created == 5, first.as_dict()
    txs = support.ledger_transactions(store, "peach")
    assert txs["peach:transaction:TX-0003-AAAA"]["status"] == "pending"
    loan_account = f"peach:loan:{LOAN}:receivable:USD"
    assert support.net(support.account_balances(store, loan_account)[loan_account]) == 500000 + 1500 - 41237 - 2550

    # The pending payment fails and the late fee is waived: the payment archives, the fee reverses.
    failed = copy.deepcopy(server.transactions[0])
    failed.update(status="failed", updatedAt="2024-03-02T08:00:00Z")
    server.transactions = [failed] + server.transactions[1:]
    server.fees = [dict(server.fees[0], status="waived", updatedAt="2024-03-03T08:00:00Z")]
    second = ingest(store, "peach", api=True, base_url=httpserver.url_for(""))
    assert second.quarantined == 0, second.as_dict()
    txs = support.ledger_transactions(store, "peach")
    assert txs["peach:transaction:TX-0003-AAAA"]["status"] == "archived"
    assert txs["peach:fee:FE-0001-AAAA:reversal"]["reverses_id"] == txs["peach:fee:FE-0001-AAAA"]["id"]
    assert support.net(support.account_balances(store, loan_account)[loan_account]) == 500000 - 41237 - 2550
    support.assert_ledger_invariants(store)


def test_pending_payment_that_succeeds_later_posts_once(store, httpserver, server):
    """Every run reads all of a loan's objects and keeps those updated since the cursor (minus the lookback):
    a payment that moves is updated, so it is kept however far the cursor moved, and posts pending -> posted."""
    url = httpserver.url_for("")
    ingest(store, "peach", api=True, base_url=url)
    server.transactions[1] = dict(server.transactions[1], updatedAt="2024-04-01T00:00:00Z")  # touched only
    touched = ingest(store, "peach", api=True, base_url=url, streams=["transactions"])  # the cursor: April
    assert (touched.landed, touched.created, touched.quarantined) == (1, 0, 0)
    server.transactions[0] = dict(server.transactions[0], status="succeeded", updatedAt="2024-04-05T00:00:00Z")
    moved = ingest(store, "peach", api=True, base_url=url, streams=["transactions"])
    assert (moved.landed, moved.created, moved.transitioned, moved.quarantined) == (1, 0, 1, 0)
    assert support.ledger_transactions(store, "peach")["peach:transaction:TX-0003-AAAA"]["status"] == "posted"
    again = ingest(store, "peach", api=True, base_url=url, streams=["transactions"])
    assert (again.landed, again.created, again.transitioned) == (0, 0, 0)
    support.assert_ledger_invariants(store)
