"""Internal and external accounts with their ledger links, against a real server on both engines."""

from __future__ import annotations

from tests.api.test_api import _account, _all, _main_ledger


def test_internal_and_external_accounts_with_their_ledger_links(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash at bank", "debit")

        # an internal account linked to an existing ledger account
        body = {"name": "operating", "account_identifier": "DE89370400440532013000", "currency": "usd",
                "bank_name": "Bank", "metadata": {"team": "treasury"}, "ledger_account_id": cash}
        created = client.post("/api/internal_accounts", json=body)
        assert created.status_code == 201, created.text
        internal = created.json()
        assert (internal["object"], internal["currency"], internal["ledger_account_id"], internal["metadata"]) == (
            "internal_account", "USD", cash, {"team": "treasury"})
        assert client.post("/api/internal_accounts", json=body).json() == internal  # idempotent
        assert client.get(f"/api/internal_accounts/{internal['id']}").json() == internal
        linked = client.get(f"/api/ledger_accounts/{cash}").json()
        assert (linked["ledgerable_type"], linked["ledgerable_id"]) == ("internal_account", internal["id"])

        # an external account created together with its new ledger account (Modern Treasury's way)
        new_ledger_account = {"name": "seller 7 payable", "ledger_id": ledger_id, "normal_balance": "credit",
                              "currency": "USD", "metadata": {"seller": "7"}}
        external = client.post("/api/external_accounts", json={
            "name": "seller 7", "currency": "USD", "party_name": "Seller Seven",
            "ledger_account": new_ledger_account})
        assert external.status_code == 201, external.text
        seller = external.json()
        assert seller["object"] == "external_account" and seller["party_name"] == "Seller Seven"
        payable = client.get(f"/api/ledger_accounts/{seller['ledger_account_id']}").json()
        assert (payable["name"], payable["normal_balance"], payable["ledgerable_type"], payable["ledgerable_id"]) == (
            "seller 7 payable", "credit", "external_account", seller["id"])
        again = client.post("/api/external_accounts", json={
            "name": "seller 7", "currency": "USD", "party_name": "Seller Seven", "ledger_account": new_ledger_account})
        assert again.json() == seller

        # refusals name the field, write nothing
        for payload, field in (
            ({"name": "x", "currency": "USD", "ledger_account_id": "nope"}, "ledger_account_id"),
            ({"name": "x", "currency": "USD", "ledger_account_id": cash, "ledger_account": new_ledger_account},
             "ledger_account"),
            ({"name": "x", "currency": "USD", "ledger_account": {**new_ledger_account, "ledger_id": "nope"}},
             "ledger_account.ledger_id"),
            ({"name": "x", "currency": "USD", "ledger_account": {**new_ledger_account, "normal_balance": "up"}},
             "ledger_account.normal_balance"),
        ):
            response = client.post("/api/external_accounts", json=payload)
            assert (response.status_code, response.json()["error"]["field"]) == (422, field), response.text
        taken = client.post("/api/external_accounts", json={"name": "y", "currency": "USD", "ledger_account_id": cash})
        assert taken.status_code == 422 and "already linked" in taken.json()["error"]["message"]
        assert [a["name"] for a in _all(client, "/api/external_accounts")] == ["seller 7"]

        for i in range(3):
            assert client.post("/api/external_accounts", json={
                "name": f"buyer {i}", "currency": "EUR", "metadata": {"kind": "buyer"}}).status_code == 201
        assert [a["name"] for a in _all(client, "/api/external_accounts", per_page=2)] == [
            "seller 7", "buyer 0", "buyer 1", "buyer 2"]
        assert len(_all(client, "/api/external_accounts", currency="eur", **{"metadata[kind]": "buyer"})) == 3
        assert [a["id"] for a in _all(client, "/api/internal_accounts")] == [internal["id"]]
        assert client.get("/api/external_accounts/nope").status_code == 404
    with server.client("read") as reader:
        assert reader.post("/api/internal_accounts", json=body).status_code == 403
