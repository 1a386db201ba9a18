"""LoanPro against a LoanTransactions OData response (tests/fixtures/loanpro, from
MiloCreditPlatform/loanpro-mcp-server @ loanpro/transactions_test.go, MIT): exact amounts, the default
mapping (disbursement, payment split, fee), OData paging and the id cursor through a local server."""

from __future__ import annotations

from connectors.loanpro import extract_loan_transactions, make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

SAMPLE = support.FIXTURES / "loanpro" / "loanpro-mcp-server_mockTransactionsResponse.json"


def test_transactions_parse_exactly():
    by_id = {r.object_id: r.fields for r in parse_file(SAMPLE)}
    assert by_id["247770"]["type"] == "loan_payment"
    assert (by_id["247770"]["amount"], by_id["247770"]["principal"], by_id["247770"]["interest"]) == (
        7511198, 7500000, 11198)  # "75111.98" = 75000 + 111.98
    assert by_id["247006"]["type"] == "loan_disbursement" and by_id["247006"]["amount"] == 7500000
    assert by_id["247599"]["type"] == "loan_fee" and by_id["247599"]["amount"] == 100000
    assert by_id["247539"]["type"] == "loan_future"  # scheduled, not yet due
    assert by_id["247006"]["effective_at"] == "2025-12-01T00:00:00+00:00"


def test_default_mapping_balances_the_loan(store):
    result = ingest(store, "loanpro", files=[SAMPLE])
    assert result.created == 3 and result.quarantined == 0, result.as_dict()
    balances = support.account_balances(store, "loanpro:")
    assert support.net(balances["loanpro:loan:630:principal:USD"]) == 0  # disbursed 75,000.00, paid off
    assert support.net(balances["loanpro:cash:USD"]) == 11198  # 75,111.98 in, 75,000.00 out
    assert support.net(balances["loanpro:interest_income:USD"]) == -11198
    assert support.net(balances["loanpro:loan:630:fees:USD"]) == 100000
    support.assert_ledger_invariants(store)


def test_odata_paging_and_id_cursor(httpserver):
    rows = support.fixture("loanpro", SAMPLE.name)["d"]["results"]
    calls = []

    def handler(request):
        calls.append(dict(request.args))
        start, top = int(request.args["$start"]), int(request.args["$top"])
        page = rows[start:start + top]
        return support.json_response({"d": {"results": page, "summary": {"start": start, "pageSize": top,
                                                                         "total": len(rows)}}})

    httpserver.expect_request("/odata.svc/LoanTransactions").respond_with_handler(handler)
    with make_client(httpserver.url_for(""), token="t", instance_id="5200243", max_retries=0) as client:
        first = extract_loan_transactions(client, None, page_size=4)
        assert [c["$start"] for c in calls] == ["0", "4"] and "$filter" not in calls[0]
        assert first.cursor == "247770" and len(first.records) == 6
        extract_loan_transactions(client, first.cursor, page_size=4)
    assert calls[-1]["$filter"] == "id gt 247270"



def test_future_fee_is_reread_when_due_however_far_the_id_cursor_moved(store, httpserver):
    """A scheduled (``future = 1``) fee is landed only; it is read again on every run until LoanPro makes it
    actual, then posts once, even when thousands of newer ids moved the cursor past the id overlap."""
    rows = support.fixture("loanpro", SAMPLE.name)["d"]["results"]
    fee = next(r for r in rows if r["type"] == "fee")
    future_fee = dict(fee, id=247600, txId="630-26-fee-future", future=1, title="Fee: Late fee")
    served = [*rows, future_fee]
    filters: list[str] = []

    def handler(request):
        floor = int(request.args.get("$filter", "id gt 0").removeprefix("id gt "))
        filters.append(request.args.get("$filter"))
        page = sorted((r for r in served if r["id"] > floor), key=lambda r: r["id"])
        start, top = int(request.args["$start"]), int(request.args["$top"])
        return support.json_response({"d": {"results": page[start:start + top],
                                            "summary": {"start": start, "pageSize": top, "total": len(page)}}})

    httpserver.expect_request("/odata.svc/LoanTransactions").respond_with_handler(handler)

    def run():
        result = ingest(store, "loanpro", api=True, base_url=httpserver.url_for(""))
        assert result.quarantined == 0, result.as_dict()
        return result

    assert run().created == 3
    served.append(dict(fee, id=249000, txId="630-27-fee"))  # far above the scheduled fee
    assert run().created == 1
    assert "loanpro:247600" not in support.ledger_transactions(store, "loanpro")
    served[served.index(future_fee)] = dict(future_fee, future=0)  # now due
    due = run()
    assert (due.landed, due.created) == (1, 1)
    assert support.ledger_transactions(store, "loanpro")["loanpro:247600"]["status"] == "posted"
    again = run()
    assert (again.landed, again.created, again.transitioned) == (0, 0, 0)
    assert filters[-1] == "id gt 248500"  # nothing scheduled any more: the overlap alone
    support.assert_ledger_invariants(store)
