"""``ledger-pipeline ingest SOURCE --api --base-url URL`` against local servers (the same code that talks to
the real service), ``parse SOURCE FILE --json``, and retries of a rate-limited page."""

from __future__ import annotations

import json

from typer.testing import CliRunner
from werkzeug.wrappers import Response

from ledger_pipeline.cli import app
from tests.connectors.api_support import FIXTURES, dumps, fixture

runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["data"]


def test_quickbooks_api_through_the_cli(httpserver, duckdb_url, monkeypatch):
    monkeypatch.setenv("QUICKBOOKS_REALM_ID", "123")
    monkeypatch.setenv("QUICKBOOKS_ACCESS_TOKEN", "token")
    state = {"run": 1, "auth": []}

    def query(request):
        state["auth"].append(request.headers.get("Authorization"))
        entity = request.args["query"].split(" FROM ")[1].split()[0]
        items = [fixture("quickbooks", "create__invoice__0.json")["Invoice"]] if entity == "Invoice" else []
        return Response(dumps({"QueryResponse": {entity: items} if items else {}}), content_type="application/json")

    def cdc(request):
        body = {"CDCResponse": [{"QueryResponse": []}]}
        if request.args["entities"] == "Invoice":
            body["CDCResponse"][0]["QueryResponse"].append(
                {"Invoice": [fixture("quickbooks", "delete__invoice__1.json")["Invoice"]]})
        return Response(dumps(body), content_type="application/json")

    httpserver.expect_request("/v3/company/123/query").respond_with_handler(query)
    httpserver.expect_request("/v3/company/123/cdc").respond_with_handler(cdc)
    assert runner.invoke(app, ["init", "--store", duckdb_url]).exit_code == 0
    args = ["ingest", "quickbooks", "--api", "--base-url", httpserver.url_for(""), "--store", duckdb_url, "--json"]
    first = _json(runner.invoke(app, args))
    assert first["created"] == 1 and set(first["streams"]) >= {"invoices", "journal_entries", "payments"}
    assert state["auth"][0] == "Bearer token"
    second = _json(runner.invoke(app, args))  # CDC now reports invoice 266 deleted
    assert second["created"] == 1  # its reversal
    txs = _json(runner.invoke(app, ["transactions", "--store", duckdb_url, "--json"]))
    items = txs if isinstance(txs, list) else txs.get("transactions", txs.get("items", []))
    assert {t["external_id"] for t in items} >= {"quickbooks:Invoice:266", "quickbooks:Invoice:266:reversal"}


def test_lithic_retries_a_rate_limited_page(httpserver, duckdb_url, monkeypatch):
    monkeypatch.setenv("LITHIC_API_KEY", "k")
    tx = fixture("lithic", "card_transaction.examples.json")[0]
    httpserver.expect_ordered_request("/v1/transactions").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0"})
    httpserver.expect_ordered_request("/v1/transactions").respond_with_data("oops", status=500)
    httpserver.expect_ordered_request("/v1/transactions").respond_with_response(
        Response(dumps({"data": [tx], "has_more": False}), content_type="application/json"))
    assert runner.invoke(app, ["init", "--store", duckdb_url]).exit_code == 0
    result = _json(runner.invoke(app, ["ingest", "lithic", "--api", "--stream", "card_transactions", "--base-url",
                                       httpserver.url_for(""), "--store", duckdb_url, "--json"]))
    assert result["created"] == 1  # the pending hold, after a 429 and a 500


def test_parse_prints_normalised_records_without_a_store():
    data = _json(runner.invoke(app, ["parse", "chargebee", str(FIXTURES / "chargebee" / "payment_refunded.json"),
                                     "--json"]))
    assert data["records"] == 3
    assert {i["fields"]["type"] for i in data["items"]} == {"invoice", "refund", "credit_note"}
