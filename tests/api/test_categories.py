"""``/api/ledger_account_categories`` against a real server process, on DuckDB and PostgreSQL: create
nested categories, add accounts, list them with balances rolled up (now and as of a time), refuse a cycle."""

from __future__ import annotations

from tests.api.test_api import _account, _all, _entries, _main_ledger


def test_categories_roll_up_over_http(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        fees = _account(client, ledger_id, "fees", "credit")
        for external_id, credit, amount, day in (("a", revenue, 1000, "01"), ("b", fees, 250, "20")):
            response = client.post("/api/ledger_transactions", json={
                "ledger_entries": _entries(cash, credit, amount), "external_id": external_id,
                "effective_at": f"2026-03-{day}T00:00:00Z"})
            assert response.status_code == 201, response.text

        income = client.post("/api/ledger_account_categories", json={
            "name": "income", "ledger_id": ledger_id, "normal_balance": "credit", "metadata": {"kind": "pl"}})
        assert income.status_code == 201, income.text
        income_id = income.json()["id"]
        earned = client.post("/api/ledger_account_categories", json={
            "name": "fees_earned", "ledger_id": ledger_id, "normal_balance": "credit", "currency": "USD",
            "ledger_account_category_ids": [income_id]})
        assert earned.status_code == 201, earned.text
        assert earned.json()["balances"]["posted_balance"]["amount"] == 0  # holds no account yet

        earned_id = earned.json()["id"]
        for category, account in ((income_id, revenue), (earned_id, fees), (income_id, fees)):  # fees: twice
            added = client.put(f"/api/ledger_account_categories/{category}/ledger_accounts/{account}")
            assert added.status_code == 204, added.text
        assert client.put(f"/api/ledger_account_categories/{income_id}/ledger_account_categories/"
                          f"{earned_id}").status_code == 204  # nested already: no change

        [listed] = _all(client, "/api/ledger_account_categories", name="income")
        assert (listed["object"], listed["metadata"], listed["currency"]) == ("ledger_account_category",
                                                                              {"kind": "pl"}, None)
        posted = listed["balances"]["posted_balance"]
        assert (posted["amount"], posted["amount_decimal"], posted["currency"]) == (1250, "12.50", "USD")
        march = client.get(f"/api/ledger_account_categories/{income_id}",
                           params={"balances[effective_at]": "2026-03-10T00:00:00Z"}).json()
        assert march["balances"]["posted_balance"]["amount"] == 1000
        assert march["balances"]["effective_at_upper_bound"].startswith("2026-03-10")
        assert {c["name"] for c in _all(client, "/api/ledger_account_categories", per_page=1)} == {
            "income", "fees_earned"}

        cycle = client.post("/api/ledger_account_categories", json={
            "name": "income", "ledger_id": ledger_id, "normal_balance": "credit",
            "ledger_account_category_ids": [earned_id]})
        assert cycle.status_code == 422 and "cycle" in cycle.json()["error"]["message"]
        assert client.get("/api/ledger_account_categories/nope").status_code == 404
    with server.client("read") as reader:
        refused = reader.post("/api/ledger_account_categories", json={
            "name": "x", "ledger_id": ledger_id, "normal_balance": "debit"})
        assert refused.status_code == 403
