"""Payment orders created through the API and default-ledgered, against a real server on both engines."""

from __future__ import annotations

from tests.api.test_api import _account, _all, _main_ledger


def _linked_accounts(client) -> tuple[str, str, str, str]:
    """An internal account linked to a cash ledger account and an external one created with its own."""
    ledger_id = _main_ledger(client)
    cash = _account(client, ledger_id, "cash", "debit")
    internal = client.post("/api/internal_accounts", json={
        "name": "operating", "account_identifier": "111", "currency": "USD", "ledger_account_id": cash}).json()
    external = client.post("/api/external_accounts", json={
        "name": "seller 7", "currency": "USD", "ledger_account": {
            "name": "seller 7 payable", "ledger_id": ledger_id, "normal_balance": "credit", "currency": "USD"}})
    assert external.status_code == 201, external.text
    return internal["id"], cash, external.json()["id"], external.json()["ledger_account_id"]


def test_payment_orders_are_default_ledgered(server):
    with server.client() as client:
        internal, cash, external, payable = _linked_accounts(client)
        body = {"type": "ach", "direction": "debit", "amount": 2500, "currency": "usd",
                "originating_account_id": internal, "receiving_account_id": "seller 7", "status": "pending",
                "effective_date": "2026-11-08", "metadata": {"invoice": "42"}}
        created = client.post("/api/payment_orders", json=body, headers={"Idempotency-Key": "po-1"})
        assert created.status_code == 201, created.text
        order = created.json()
        assert (order["object"], order["amount"], order["currency"], order["receiving_account_id"], order["status"]) == (
            "payment_order", 2500, "USD", external, "pending")
        tx = client.get(f"/api/ledger_transactions/{order['ledger_transaction_id']}").json()
        assert (tx["external_id"], tx["status"], tx["ledgerable_type"], tx["ledgerable_id"]) == (
            f"payment_order:{order['id']}", "pending", "payment_order", order["id"])
        assert sorted((e["ledger_account_id"], e["direction"], e["amount"]) for e in tx["ledger_entries"]) == sorted(
            [(cash, "debit", 2500), (payable, "credit", 2500)])  # money in: debit cash, credit the counterparty

        again = client.post("/api/payment_orders", json=body, headers={"Idempotency-Key": "po-1"})
        assert (again.status_code, again.json()) == (201, order)
        conflict = client.post("/api/payment_orders", json={**body, "amount": 2600}, headers={"Idempotency-Key": "po-1"})
        assert (conflict.status_code, conflict.json()["error"]["reason_codes"]) == (422, ["external_id_conflict"])

        completed = client.patch(f"/api/payment_orders/{order['id']}", json={"status": "completed"})
        assert completed.status_code == 200, completed.text
        assert completed.json()["status"] == "completed"
        assert client.get(f"/api/ledger_transactions/{tx['id']}").json()["status"] == "posted"
        assert client.get(f"/api/ledger_accounts/{cash}").json()["balances"]["posted_balance"]["amount"] == 2500

        out = client.post("/api/payment_orders", json={**body, "direction": "credit", "amount": 700}).json()
        assert client.patch(f"/api/payment_orders/{out['id']}", json={"status": "failed"}).status_code == 200
        assert client.get(f"/api/ledger_transactions/{out['ledger_transaction_id']}").json()["status"] == "archived"
        assert client.get(f"/api/ledger_accounts/{payable}").json()["balances"]["pending_balance"]["amount"] == 2500

        # an order between accounts without ledger links is kept, not ledgered
        loose = client.post("/api/external_accounts", json={"name": "no link", "currency": "USD"}).json()
        unlinked = client.post("/api/payment_orders", json={**body, "receiving_account_id": loose["id"]}).json()
        assert unlinked["ledger_transaction_id"] is None

        assert [o["id"] for o in _all(client, "/api/payment_orders", per_page=2)] == [
            order["id"], out["id"], unlinked["id"]]
        assert [o["id"] for o in _all(client, "/api/payment_orders", status="failed")] == [out["id"]]
        assert len(_all(client, "/api/payment_orders", **{"metadata[invoice]": "42"})) == 3
        assert client.get(f"/api/payment_orders/{order['id']}").json() == completed.json()

        for payload, field in (({**body, "amount": 0}, "amount"), ({**body, "amount": 1.5}, "amount"),
                               ({**body, "status": "teleported"}, "status"),
                               ({**body, "originating_account_id": "nope"}, "originating_account_id"),
                               ({**body, "receiving_account_id": internal}, "receiving_account_id")):
            response = client.post("/api/payment_orders", json=payload)
            assert (response.status_code, response.json()["error"]["field"]) == (422, field), response.text
        assert client.patch("/api/payment_orders/nope", json={"status": "completed"}).status_code == 404
        assert client.get("/api/payment_orders/nope").status_code == 404

        # never 500 to bad input on the new resources
        for method, path, payload in (
            ("POST", "/api/payment_orders", {**body, "description": "nul \u0000"}),
            ("POST", "/api/payment_orders", {**body, "metadata": {"k\u0000": "v"}}),
            ("POST", "/api/payment_orders", {**body, "amount": 10**40}),
            ("POST", "/api/payment_orders", {**body, "effective_date": "9999-99-99"}),
            ("POST", "/api/payment_orders", {**body, "currency": "EUR"}),
            ("POST", "/api/external_accounts", {"name": "n\u0000", "currency": "USD"}),
            ("POST", "/api/external_accounts", {"name": "n", "currency": "USD", "ledger_account": {
                "name": "p\u0000", "ledger_id": "x", "normal_balance": "credit", "currency": "USD"}}),
            ("POST", "/api/internal_accounts", {"name": "i", "account_identifier": "111", "currency": "USD"}),
            ("POST", "/api/external_accounts", {"name": "seller 7", "currency": "EUR"}),
            ("POST", "/api/quarantine/replay", {"ids": "x"}),
            ("POST", "/api/webhook_endpoints", {"url": "http://x/\u0000"}),
            ("GET", "/api/payment_orders?after_cursor=%00&metadata%5Bk%22%5D=v", None),
            ("GET", "/api/quarantine?created_at%5Bgte%5D=yesterday&after_cursor=zzz", None),
        ):
            response = client.request(method, path, json=payload)
            assert response.status_code < 500, (method, path, payload, response.text)
            accepted = method == "GET" or payload.get("currency") == "EUR" and path == "/api/payment_orders"
            assert response.status_code >= 400 or accepted, (path, payload, response.text)
