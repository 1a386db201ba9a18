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

