"""Card authorisation decisions (Lithic ASA, Marqeta JIT Funding) against a real server, on both engines: the
balance check and the hold are one write, concurrent requests never overdraw, and the ingested clearing of
an authorisation the API held counts once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger_pipeline.ledger.store import Store

LITHIC_SECRET = "whsec_" + base64.b64encode(b"lithic-test-secret-0123456789").decode()
MARQETA_USER, MARQETA_PASSWORD = "marqeta-gateway", "s3cret"


def set_card_secrets(monkeypatch) -> None:
    """The card processors' webhook secrets, for the server process to inherit (set before ``server`` starts
    it)."""
    monkeypatch.setenv("LITHIC_WEBHOOK_SECRET", LITHIC_SECRET)
    monkeypatch.setenv("MARQETA_WEBHOOK_USERNAME", MARQETA_USER)
    monkeypatch.setenv("MARQETA_WEBHOOK_PASSWORD", MARQETA_PASSWORD)


@pytest.fixture(autouse=True)
def _provider_secrets(monkeypatch):
    set_card_secrets(monkeypatch)


def lithic_headers(body: bytes, secret: str = LITHIC_SECRET) -> dict[str, str]:
    """Standard Webhooks headers as Lithic signs a delivery."""
    message_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{message_id}.{timestamp}.".encode() + body,
                                          hashlib.sha256).digest()).decode()
    return {"webhook-id": message_id, "webhook-timestamp": timestamp, "webhook-signature": f"v1,{signature}",
            "content-type": "application/json"}


def asa_request(token: str, card_token: str, amount: int) -> dict:
    """An ASA request in Lithic's documented shape (the fields the decision reads, and a few more)."""
    return {"token": token, "status": "AUTHORIZATION", "created": "2026-03-01T12:00:00Z", "amount": amount,
            "authorization_amount": amount, "cardholder_currency": "USD",
            "amounts": {"cardholder": {"amount": amount, "conversion_rate": "1.000000", "currency": "USD"},
                        "merchant": {"amount": amount, "currency": "USD"}, "settlement": None,
                        "hold": {"amount": amount, "currency": "USD"}},
            "card": {"token": card_token, "last_four": "4242", "state": "OPEN", "type": "VIRTUAL"},
            "merchant": {"descriptor": "COFFEE SHOP", "mcc": "5812", "country": "USA"}}


def post_asa(client, payload: dict):
    body = json.dumps(payload).encode()
    return client.post("/api/cards/lithic/asa", content=body, headers=lithic_headers(body))


def card_account(client, card_token: str, name: str, funded: int) -> str:
    """A credit-normal card account that may never go below 0 available, funded with ``funded`` cents."""
    ledger_id = next(row["id"] for row in client.get("/api/ledgers").json() if row["name"] == "main")
    created = client.post("/api/ledger_accounts", json={
        "name": name, "ledger_id": ledger_id, "normal_balance": "credit", "currency": "USD",
        "min_available_balance": 0, "ledgerable_type": "card", "ledgerable_id": card_token})
    assert created.status_code == 201, created.text
    funding = client.post("/api/ledger_accounts", json={
        "name": "funding", "ledger_id": ledger_id, "normal_balance": "debit", "currency": "USD"}).json()["id"]
    if funded:
        response = client.post("/api/ledger_transactions", json={"ledger_entries": [
            {"ledger_account_id": funding, "direction": "debit", "amount": funded},
            {"ledger_account_id": created.json()["id"], "direction": "credit", "amount": funded}]})
        assert response.status_code == 201, response.text
    return created.json()["id"]


def balances(client, account_id: str) -> dict[str, int]:
    found = client.get(f"/api/ledger_accounts/{account_id}").json()["balances"]
    return {kind: found[f"{kind}_balance"]["amount"] for kind in ("pending", "posted", "available")}


def test_concurrent_authorisations_never_overdraw(server):
    with server.client() as client:
        account = card_account(client, "card-1", "lithic:financial_account:fa-1:USD", funded=2_550)

    def authorise(i: int) -> str:
        with server.client(token=None) as client:
            response = post_asa(client, asa_request(f"tx-{i}", "card-1", 100))
            assert response.status_code == 200, response.text
            assert response.json()["token"] == f"tx-{i}"
            return response.json()["result"]

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(authorise, range(64)))
    assert results.count("APPROVED") == 25 and results.count("INSUFFICIENT_FUNDS") == 39
    with server.client() as client:
        assert balances(client, account) == {"pending": 50, "posted": 2_550, "available": 50}
        holds = client.get("/api/ledger_transactions", params={"ledger_account_id": account, "status": "pending",
                                                               "per_page": 100}).json()
        approved = {f"tx-{i}" for i, result in enumerate(results) if result == "APPROVED"}
        assert {tx["external_id"] for tx in holds} == {f"lithic:{token}:hold:{token}" for token in approved}
        # a provider's retry of an approved request: the same answer, no second hold
        again = post_asa(client, asa_request(sorted(approved)[0], "card-1", 100))
        assert again.json()["result"] == "APPROVED"
        assert balances(client, account)["available"] == 50


def test_lithic_clearing_after_an_api_hold_counts_once(server):
    with server.client(token=None) as client:  # a bad signature, no signature, an unknown card
        body = json.dumps(asa_request("tx-x", "card-x", 100)).encode()
        wrong = lithic_headers(body, "whsec_" + base64.b64encode(b"another-secret").decode())
        assert client.post("/api/cards/lithic/asa", content=body, headers=wrong).status_code == 401
        assert client.post("/api/cards/lithic/asa", content=body).status_code == 401
        assert post_asa(client, asa_request("tx-x", "card-x", 100)).json()["result"] == "CARD_PAUSED"
        for malformed in ({"token": "t", "card": "x"}, {"token": "t", "card": {"token": "c"}, "amounts": [1]},
                          {"token": "t", "card": {"token": "c"}, "amount": 1.5}, ["not", "an", "object"]):
            refused = post_asa(client, malformed)
            assert refused.status_code == 422 and refused.json()["error"]["field"], refused.text
        garbled = b'{"token": '
        assert client.post("/api/cards/lithic/asa", content=garbled,
                           headers=lithic_headers(garbled)).json()["error"]["code"] == "invalid_json"
    with server.client() as client:
        assert client.get("/api/ledger_transactions", params={"external_id": "lithic:tx-x:hold:tx-x"}).json() == []

    with server.client() as client:
        account = card_account(client, "card-2", "lithic:financial_account:fa-2:USD", funded=10_000)
        assert post_asa(client, asa_request("tx-clear", "card-2", 1_800)).json()["result"] == "APPROVED"
        assert balances(client, account) == {"pending": 8_200, "posted": 10_000, "available": 8_200}
    card_transaction = {
        "token": "tx-clear", "card_token": "card-2", "financial_account_token": "fa-2", "status": "SETTLED",
        "created": "2026-03-01T12:00:00Z", "updated": "2026-03-02T12:00:00Z", "merchant": {"descriptor": "SHOP"},
        "amounts": {"hold": {"amount": 0, "currency": "USD"}, "settlement": {"amount": 1_800, "currency": "USD"}},
        "events": [
            {"token": "ev-auth", "type": "AUTHORIZATION", "result": "APPROVED", "amount": 1_800,
             "created": "2026-03-01T12:00:00Z"},
            {"token": "ev-clear", "type": "CLEARING", "result": "APPROVED", "amount": 1_800,
             "created": "2026-03-02T12:00:00Z", "amounts": {"settlement": {"amount": 1_800, "currency": "USD"}}}]}
    body = json.dumps(card_transaction).encode()
    with server.client(token=None) as client:
        for _ in range(2):  # delivered twice
            delivered = client.post("/api/webhooks/lithic", content=body, headers=lithic_headers(body))
            assert delivered.status_code == 200, delivered.text
    with server.client() as client:
        assert balances(client, account) == {"pending": 8_200, "posted": 8_200, "available": 8_200}
        cleared = client.get("/api/ledger_transactions", params={"ledger_account_id": account,
                                                                 "external_id": "lithic:tx-clear:hold:tx-clear"})
        assert [tx["status"] for tx in cleared.json()] == ["posted"]


def jit_request(token: str, card_token: str, amount: str) -> dict:
    """A Gateway JIT Funding request in Marqeta's documented shape."""
    return {"type": "authorization", "state": "PENDING", "token": token, "user_token": "user-1",
            "card_token": card_token, "amount": amount, "currency_code": "USD",
            "created_time": "2026-03-01T12:00:00Z", "card_acceptor": {"name": "BOOK STORE", "mcc": "5942"},
            "gpa_order": {"jit_funding": {"token": f"jit-{token}", "method": "pgfs.authorization",
                                          "user_token": "user-1", "acting_user_token": "user-1",
                                          "amount": amount}}}


def test_marqeta_jit_funding(server):
    auth = (MARQETA_USER, MARQETA_PASSWORD)
    with server.client() as client:
        account = card_account(client, "mq-card", "marqeta:user:user-1:USD", funded=1_000)
    with server.client(token=None) as client:
        approved = client.post("/api/cards/marqeta/jit_funding", json=jit_request("mq-1", "mq-card", "7.50"),
                               auth=auth)
        assert approved.status_code == 200, approved.text
        assert approved.json() == {"jit_funding": {"token": "jit-mq-1", "method": "pgfs.authorization",
                                                   "user_token": "user-1", "acting_user_token": "user-1",
                                                   "amount": "7.50"}}
        declined = client.post("/api/cards/marqeta/jit_funding", json=jit_request("mq-2", "mq-card", "2.51"),
                               auth=auth)
        assert declined.status_code == 402
        assert declined.json()["jit_funding"]["decline_reason"] == "INSUFFICIENT_FUNDS"
        wrong = client.post("/api/cards/marqeta/jit_funding", json=jit_request("mq-3", "mq-card", "1.00"),
                            auth=(MARQETA_USER, "guess"))
        assert wrong.status_code == 401
        too_precise = client.post("/api/cards/marqeta/jit_funding", json=jit_request("mq-4", "mq-card", "1.001"),
                                  auth=auth)
        assert too_precise.status_code == 422
    with server.client() as client:
        assert balances(client, account) == {"pending": 250, "posted": 1_000, "available": 250}
    # the authorisation and its clearing delivered by Marqeta's webhook: the authorisation (the same
    # transaction token) is the API's hold, not a second one; the clearing posts it
    delivery = {"transactions": [
        {**jit_request("mq-1", "mq-card", "7.50"), "gpa_order": None},
        {"type": "authorization.clearing", "state": "COMPLETION", "token": "mq-1-clear",
         "preceding_related_transaction_token": "mq-1", "user_token": "user-1", "card_token": "mq-card",
         "amount": "7.50", "currency_code": "USD", "created_time": "2026-03-02T12:00:00Z"}]}
    with server.client(token=None) as client:
        for transaction in delivery["transactions"]:
            delivered = client.post("/api/webhooks/marqeta", json={"transactions": [transaction]}, auth=auth)
            assert delivered.status_code == 200, delivered.text
            if transaction["token"] == "mq-1":  # the authorisation: the API's hold, not a second one
                with server.client() as api:
                    assert balances(api, account) == {"pending": 250, "posted": 1_000, "available": 250}
                    listed = api.get("/api/ledger_transactions", params={"ledger_account_id": account}).json()
                    assert [(tx["external_id"], tx["status"]) for tx in listed if tx["status"] != "posted"] == [
                        ("marqeta:mq-1:hold:mq-1", "pending")]
                if server.is_postgres:  # nothing refused either (DuckDB: the server holds the file)
                    with Store(server.store_url).connect() as conn:
                        assert conn.scalar("SELECT count(*) FROM quarantine") == 0
    with server.client() as client:
        assert balances(client, account) == {"pending": 250, "posted": 250, "available": 250}


def test_a_card_is_found_by_index_among_many_accounts(pg_schema_url):
    """An authorisation looks its card's account up by the link (``ledgerable_type``, ``ledgerable_id``),
    indexed on PostgreSQL: no scan of every account, whatever the number of cards."""
    from ledger_pipeline.api.routes_cards import _card_account
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
    from ledger_pipeline.store_setup import initialize_store
    from tests.ledger.conftest import sequential_scans

    store = Store(pg_schema_url)
    initialize_store(store)
    with store.transaction() as conn:
        schema = conn.scalar("SELECT current_schema()")
        ids = [ensure_account(conn, "main", AccountSpec(f"card account {i}", "credit", "USD", ledgerable_type="card",
                                                         ledgerable_id=f"card-{i}")) for i in range(2_000)]
    with store.connect() as conn:
        conn.execute("ANALYZE ledger_accounts")
        found = [_card_account(conn, f"card-{i}") for i in (0, 7, 1_999)] + [_card_account(conn, "no-such-card")]
        conn.scalar("SELECT pg_stat_force_next_flush()")
        before = sequential_scans(pg_schema_url, schema, ("ledger_accounts",))
        for i in range(20):
            assert _card_account(conn, f"card-{i * 97}")["id"] == ids[i * 97]
        conn.scalar("SELECT pg_stat_force_next_flush()")
        after = sequential_scans(pg_schema_url, schema, ("ledger_accounts",))
    assert [row["id"] if row else None for row in found] == [ids[0], ids[7], ids[1_999], None]
    assert after == before, f"sequential scans of ledger_accounts by 20 card lookups: {before} -> {after}"
