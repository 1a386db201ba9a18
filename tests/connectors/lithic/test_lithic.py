"""Lithic against the OpenAPI examples (tests/fixtures/lithic, from lithic-com/lithic-openapi, Apache-2.0)
served by a local HTTP server: paging, and a card transaction whose hold moves (incremental authorization,
partial reversal) and then clears; an authorization that expires."""

from __future__ import annotations

import copy

import pytest

from connectors.lithic import extract_payments, make_client, parse_file
from ledger_pipeline.ingest.pipeline import ingest
from tests.connectors import api_support as support

FA = "lithic:financial_account:a3b113e8-01fe-42d3-b900-b9adf3f15496:USD"


def test_fixtures_parse_with_exact_amounts():
    (hold,) = parse_file(support.FIXTURES / "lithic" / "card_transaction.examples.json")
    assert hold.fields["type"] == "card_hold" and hold.fields["hold_amount"] == 1800
    payments = parse_file(support.FIXTURES / "lithic" / "payment_transaction.examples.json")
    assert [(p.fields["type"], p.fields["amount"], p.fields["status"]) for p in payments] == [
        ("payment_credit", 1588, "pending"), ("payment_debit", 1588, "pending"),
        ("payment_debit", 1000, "posted"), ("payment_credit", 1588, "pending")]
    (transfer,) = parse_file(support.FIXTURES / "lithic" / "book_transfer_transaction_created.examples.json")
    assert transfer.fields["amount"] == 4103 and transfer.fields["status"] == "posted"


def test_list_pages_follow_starting_after(httpserver):
    payments = support.fixture("lithic", "payment_transaction.examples.json")
    calls = []

    def handler(request):
        calls.append(dict(request.args))
        after = request.args.get("starting_after")
        start = 0 if after is None else [p["token"] for p in payments].index(after) + 1
        page = payments[start:start + 2]
        return support.json_response({"data": page, "has_more": start + 2 < len(payments)})

    httpserver.expect_request("/v1/payments").respond_with_handler(handler)
    with make_client(httpserver.url_for(""), api_key="k", max_retries=0) as client:
        result = extract_payments(client, None, page_size=2)
    assert [c.get("starting_after") for c in calls] == [None, payments[1]["token"]]
    assert len(result.records) == 4
    # the latest created seen, and where the oldest payment still PENDING starts (re-read until it settles)
    pending = min(p["created"] for p in payments if p["status"] == "PENDING")
    assert result.cursor == f"{max(p['created'] for p in payments)} revisit_from={pending}"


def _event(token, kind, amount, created, polarity="DEBIT"):
    return {"token": token, "type": kind, "amount": amount, "created": created, "result": "APPROVED",
            "effective_polarity": polarity, "detailed_results": ["APPROVED"],
            "amounts": {"settlement": {"amount": amount, "currency": "USD"} if kind == "CLEARING" else None}}


class _CardServer:
    """One card transaction (and any in ``later``) served by ``GET /v1/transactions``, filtered by ``begin``
    on ``created`` as Lithic does; ``step`` adds an event to it."""

    def __init__(self, url):
        self.url = url
        self.base = support.fixture("lithic", "card_transaction.examples.json")[0]
        self.tx = copy.deepcopy(self.base)
        self.later: list[dict] = []
        self.begins: list[str | None] = []

    def step(self, kind, amount, hold, status="PENDING", token=None):
        n = len(self.tx["events"]) + 1
        self.tx["events"].append(_event(token or f"evt-{n}", kind, amount, f"2023-08-0{3 + n}T10:00:00Z"))
        self.tx["amounts"]["hold"]["amount"] = -hold
        self.tx["status"] = status
        self.tx["updated"] = f"2023-08-0{3 + n}T10:00:00Z"

    def handler(self, request):
        begin = request.args.get("begin")
        self.begins.append(begin)
        txs = [t for t in (self.tx, *self.later) if begin is None or t["created"] >= begin]
        return support.json_response({"data": txs, "has_more": False})

    def ingest(self, store):
        return ingest(store, "lithic", api=True, base_url=self.url, streams=["card_transactions"])


@pytest.fixture
def card_server(httpserver, monkeypatch):
    server = _CardServer(httpserver.url_for(""))
    httpserver.expect_request("/v1/transactions").respond_with_handler(server.handler)
    monkeypatch.setenv("LITHIC_API_KEY", "test-key")
    return server


def test_card_hold_moves_then_clears(store, card_server):
    server = card_server
    token = server.tx["token"]
    auth_event = server.tx["events"][0]["token"]

    def run():
        result = server.ingest(store)
        assert result.quarantined == 0, result.as_dict()
        return {k: (v["status"], v["debits"]) for k, v in support.ledger_transactions(store, "lithic").items()}

    assert run() == {f"lithic:{token}:hold:{auth_event}": ("pending", 1800)}
    server.step("AUTHORIZATION_ADVICE", 700, hold=2500)  # incremental authorization
    assert run() == {f"lithic:{token}:hold:{auth_event}": ("archived", 1800),
                     f"lithic:{token}:hold:evt-2": ("pending", 2500)}
    server.step("AUTHORIZATION_REVERSAL", 500, hold=2000)  # partial reversal
    assert run()[f"lithic:{token}:hold:evt-3"] == ("pending", 2000)
    assert run()[f"lithic:{token}:hold:evt-2"] == ("archived", 2500)  # (a re-run changes nothing)
    server.step("CLEARING", 2000, hold=0, status="SETTLED")
    txs = run()
    assert txs[f"lithic:{token}:hold:evt-3"] == ("posted", 2000)  # the hold itself posts on clearing
    assert f"lithic:{token}:evt-4" not in txs
    assert [k for k, v in txs.items() if v[0] == "pending"] == []
    balance = support.account_balances(store, FA)[FA]
    assert balance.get("posted_debit") == 2000 and "pending_debit" not in balance
    support.assert_ledger_invariants(store)


def test_pending_authorization_is_revisited_however_far_the_cursor_moved(store, card_server):
    """An authorisation still PENDING is listed again on every run until it settles, even when newer
    transactions moved the cursor weeks past it (beyond the lookback); re-reading it unchanged adds nothing."""
    server = card_server
    hold = f"lithic:{server.tx['token']}:hold:{server.tx['events'][0]['token']}"
    assert server.ingest(store).created == 1
    later = copy.deepcopy(server.base)
    later["token"], later["created"], later["updated"] = "tx-later", "2023-09-20T10:00:00Z", "2023-09-20T10:00:00Z"
    later["events"][0]["token"] = "evt-later"
    server.later.append(later)
    second = server.ingest(store)
    assert (second.landed, second.created, second.transitioned) == (1, 1, 0)
    assert server.begins[-1] <= server.tx["created"]  # the open authorisation is still in the window
    server.step("CLEARING", 1800, hold=0, status="SETTLED")
    cleared = server.ingest(store)
    assert (cleared.landed, cleared.transitioned, cleared.quarantined) == (2, 1, 0)  # the clearing, the hold
    txs = support.ledger_transactions(store, "lithic")
    assert (txs[hold]["status"], txs[hold]["debits"]) == ("posted", 1800)
    again = server.ingest(store)
    assert (again.landed, again.created, again.transitioned, again.entries_posted) == (0, 0, 0, 0)
    assert server.begins[-1] == "2023-09-10T10:00:00Z"  # nothing open: back to the lookback alone
    support.assert_ledger_invariants(store)


def test_expired_authorization_archives_its_hold(store, card_server):
    card_server.ingest(store)
    card_server.step("AUTHORIZATION_EXPIRY", 1800, hold=0, status="EXPIRED")
    card_server.ingest(store)
    txs = support.ledger_transactions(store, "lithic")
    assert [v["status"] for v in txs.values()] == ["archived"]


def test_payments_and_transfers_post(store, tmp_path):
    result = ingest(store, "lithic", files=[support.FIXTURES / "lithic" / "payment_transaction.examples.json",
                                           support.FIXTURES / "lithic" / "book_transfer_transaction_created.examples.json"])
    assert result.created == 5 and result.quarantined == 0, result.as_dict()
    txs = support.ledger_transactions(store, "lithic")
    assert txs["lithic:dd72f435-9633-46f3-b871-47d4af684654"]["status"] == "posted"
    assert txs["lithic:bd4efddb-771b-49e3-9af9-49b077ab5eb8"]["status"] == "pending"
    assert txs["lithic:147595d7-45f4-4c91-a950-3436d16847e5"]["debits"] == 4103


def test_balances_are_landed_not_posted(store, httpserver, monkeypatch):
    body = support.fixture("lithic", "balance_updated.examples.json")[0]
    httpserver.expect_request("/v1/balances").respond_with_response(
        support.json_response(body))
    monkeypatch.setenv("LITHIC_API_KEY", "k")
    result = ingest(store, "lithic", api=True, base_url=httpserver.url_for(""), streams=["balances"])
    assert result.landed == 1 and result.created == 0 and result.quarantined == 0
    assert result.cursors["balances"] == "2023-09-14T12:52:44+00:00"
    with store.connect() as conn:
        fields = conn.scalar("SELECT fields_json FROM raw_records WHERE source = 'lithic' AND stream = 'balances'")
    assert '"available_amount":10000' in fields


def test_clearing_for_another_amount_archives_the_hold_and_posts_the_clearing(store, card_server):
    server = card_server
    token = server.tx["token"]
    server.ingest(store)
    server.step("CLEARING", 2160, hold=0, status="SETTLED")  # 18.00 authorised, 21.60 cleared (a tip)
    server.ingest(store)
    txs = {k: (v["status"], v["debits"]) for k, v in support.ledger_transactions(store, "lithic").items()}
    assert txs == {f"lithic:{token}:hold:{server.base['events'][0]['token']}": ("archived", 1800),
                   f"lithic:{token}:evt-2": ("posted", 2160)}
    support.assert_ledger_invariants(store)
