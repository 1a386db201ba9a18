"""Chargebee against recorded API v2 webhook events and responses (tests/fixtures/chargebee, from
bonusly/mock_chargebee, MIT): events through files, the list API through a local server with paging,
the cursor and deleted objects."""

from __future__ import annotations

from connectors.chargebee import extract_invoices, make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

CB = support.FIXTURES / "chargebee"


def test_every_fixture_parses_with_integer_amounts():
    for path in sorted(CB.glob("*.json")):
        for record in parse_file(path):
            assert record.source == "chargebee"
            assert record.fields.get("amount") is None or isinstance(record.fields["amount"], int)
    refunded = {r.object_id: r.fields for r in parse_file(CB / "payment_refunded.json")}
    assert refunded["transaction:txn_3Nl7oGgQqGG07E3V"]["type"] == "refund"
    assert refunded["credit_note:TEST-CN-2"]["amount"] == 2


def test_webhooks_post_transition_and_reverse(store):
    def run(*names):
        result = ingest(store, "chargebee", files=[CB / n for n in names])
        assert result.quarantined == 0, result.as_dict()
        return result

    run("unbilled_charges_invoiced.json")  # invoice 21, payment due 324.00
    receivable = "chargebee:accounts_receivable:USD"
    assert support.net(support.account_balances(store, receivable)[receivable]) == 32400
    run("invoice_deleted.json")  # the same invoice, deleted: reversed
    txs = support.ledger_transactions(store, "chargebee")
    assert txs["chargebee:invoice:21:reversal"]["reverses_id"] == txs["chargebee:invoice:21"]["id"]
    assert support.net(support.account_balances(store, receivable)[receivable]) == 0

    run("payment_initiated.json")  # invoice 4 and its payment, in progress
    assert support.ledger_transactions(store, "chargebee")["chargebee:transaction:txn_3Nl7oGgQqGG4tN3n"]["status"] == "pending"
    second = run("transaction_updated.json")  # the payment succeeded: pending -> posted
    assert second.transitioned == 1
    txs = support.ledger_transactions(store, "chargebee")
    assert txs["chargebee:transaction:txn_3Nl7oGgQqGG4tN3n"]["status"] == "posted"
    assert support.net(support.account_balances(store, receivable)[receivable]) == 0  # invoice 4 (10.00) paid

    again = run("unbilled_charges_invoiced.json", "invoice_deleted.json", "payment_initiated.json")
    assert again.landed == 0 and again.created == 0  # the same events again change nothing
    support.assert_ledger_invariants(store)


def test_list_api_pages_with_next_offset_and_cursor(httpserver):
    invoices = [support.fixture("chargebee", "unbilled_charges_invoiced.json")["content"]["invoice"],
                support.fixture("chargebee", "invoice_generated.json")["content"]["invoice"],
                support.fixture("chargebee", "invoice_deleted.json")["content"]["invoice"]]
    calls = []

    def handler(request):
        calls.append(dict(request.args))
        start = int(request.args.get("offset") or 0)
        page = invoices[start:start + 2]
        body = {"list": [{"invoice": i} for i in page]}
        if start + 2 < len(invoices):
            body["next_offset"] = str(start + 2)
        return support.json_response(body)

    httpserver.expect_request("/api/v2/invoices").respond_with_handler(handler)
    with make_client(httpserver.url_for(""), api_key="k", max_retries=0) as client:
        result = extract_invoices(client, "2020-12-11T16:00:00+00:00", page_size=2)
    assert [c.get("offset") for c in calls] == [None, "2"]
    assert calls[0]["include_deleted"] == "true" and calls[0]["updated_at[after]"] == "1607702100"
    assert [r.object_id for r in result.records] == ["invoice:21", "invoice:19", "invoice:21:deleted"]
    assert result.cursor == "2020-12-11T16:14:13+00:00"


def test_api_payment_that_succeeds_days_later_is_pulled_again_and_posts(store, httpserver):
    """The list cursor is ``updated_at``: a payment that moves (in_progress -> success) is updated, so the
    next pull lists it again however far the cursor moved, and its ledger transaction moves pending -> posted."""
    tx = support.fixture("chargebee", "payment_initiated.json")["content"]["transaction"]
    served = [dict(tx)]
    afters: list[int] = []

    def handler(request):
        after = int(request.args.get("updated_at[after]", 0))
        afters.append(after)
        page = sorted((t for t in served if t["updated_at"] > after), key=lambda t: t["updated_at"])
        return support.json_response({"list": [{"transaction": t} for t in page]})

    httpserver.expect_request("/api/v2/transactions").respond_with_handler(handler)
    external_id = f"chargebee:transaction:{tx['id']}"

    def run():
        result = ingest(store, "chargebee", api=True, base_url=httpserver.url_for(""), streams=["transactions"])
        assert result.quarantined == 0, result.as_dict()
        return result

    assert run().created == 1
    assert support.ledger_transactions(store, "chargebee")[external_id]["status"] == "pending"
    day = 86400
    served.append(dict(tx, id="txn_other", status="success", updated_at=tx["updated_at"] + 3 * day))
    assert run().created == 1
    served[0] = dict(tx, status="success", updated_at=tx["updated_at"] + 5 * day)
    moved = run()
    assert (afters[-1], moved.landed, moved.transitioned) == (tx["updated_at"] + 3 * day - 300, 1, 1)
    assert support.ledger_transactions(store, "chargebee")[external_id]["status"] == "posted"
    again = run()
    assert (again.landed, again.created, again.transitioned) == (0, 0, 0)
    support.assert_ledger_invariants(store)
