"""Quarantine over HTTP, and API writes refused by a rule landing in it, against a real server on both engines."""

from __future__ import annotations

from tests.api.test_api import _account, _all, _entries, _main_ledger


def test_refused_api_writes_are_quarantined_then_replayed_or_discarded(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        wallet = _account(client, ledger_id, "wallet", "credit", min_available_balance=0)

        refused = []
        for i, entries in enumerate((_entries(cash, "late-account", 300), _entries(cash, revenue, 10, 9),
                                     _entries(wallet, revenue, 50), _entries(cash, "late-account", 400))):
            response = client.post("/api/ledger_transactions", json={
                "ledger_entries": entries, "external_id": f"ref-{i}", "metadata": {"n": str(i)}})
            assert response.status_code == 422, response.text
            refused.append(response.json()["error"]["reason_codes"][0])
        assert refused == ["unknown_account", "unbalanced", "balance_limit_exceeded", "unknown_account"]
        posted = client.post("/api/ledger_transactions", json={"ledger_entries": _entries(cash, revenue, 5),
                                                                "external_id": "ok"}).json()
        to_archive = client.patch(f"/api/ledger_transactions/{posted['id']}", json={"status": "archived"})
        assert to_archive.json()["error"]["reason_codes"] == ["immutable_posted"]
        again = client.post("/api/ledger_transactions", json={   # a retry of a refused write adds no second item
            "ledger_entries": _entries(cash, "late-account", 300), "external_id": "ref-0", "metadata": {"n": "0"}})
        assert again.status_code == 422

        items = _all(client, "/api/quarantine", per_page=2)
        assert [(q["external_id"], q["reason_code"], q["status"], q["source"]) for q in items] == [
            ("ref-0", "unknown_account", "open", "api"), ("ref-1", "unbalanced", "open", "api"),
            ("ref-2", "balance_limit_exceeded", "open", "api"), ("ref-3", "unknown_account", "open", "api"),
            ("ok", "immutable_posted", "open", "api")]
        assert items[0]["object"] == "quarantine_item"
        assert {r["account"] for r in items[0]["raw_payload"]} == {cash, "late-account"}
        late = _all(client, "/api/quarantine", reason_code="unknown_account")
        assert [q["external_id"] for q in late] == ["ref-0", "ref-3"]
        assert [q["external_id"] for q in _all(client, "/api/quarantine", **{
            "created_at[gte]": items[2]["created_at"]})] == ["ref-2", "ref-3", "ok"]
        assert client.get("/api/quarantine/" + items[1]["id"]).json() == items[1]

        # the cause fixed (the account now exists), one item replays alone, then the rest of its reason
        _account(client, ledger_id, "late-account", "credit")
        replayed = client.post(f"/api/quarantine/{late[0]['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        assert (replayed.json()["status"], replayed.json()["external_id"]) == ("replayed", "ref-0")
        batch = client.post("/api/quarantine/replay", json={"reason_code": "unknown_account"})
        assert (batch.status_code, batch.json()["replayed"]) == (200, 1), batch.text
        assert sorted(t["external_id"] for t in _all(client, "/api/ledger_transactions", ledger_account_id=cash)) == [
            "ok", "ref-0", "ref-3"]
        still = client.post("/api/quarantine/replay", json={"ids": [items[1]["id"]]}).json()
        assert (still["replayed"], still["reason_counts"]) == (0, {"unbalanced": 1})
        assert client.get(f"/api/quarantine/{items[1]['id']}").json()["attempts"] == 2

        discarded = client.post(f"/api/quarantine/{items[1]['id']}/discard", json={"reason": "typo, re-sent"})
        assert (discarded.json()["status"], discarded.json()["resolution"]) == ("discarded", "typo, re-sent")
        assert client.post(f"/api/quarantine/{items[1]['id']}/discard", json={"reason": "x"}).status_code == 422
        assert client.post(f"/api/quarantine/{items[1]['id']}/replay").status_code == 422
        assert [q["external_id"] for q in _all(client, "/api/quarantine", status="open")] == ["ref-2", "ok"]
        assert [q["external_id"] for q in _all(client, "/api/quarantine", status="replayed")] == ["ref-0", "ref-3"]
        for params, field in (({"status": "gone"}, "status"), ({"created_at[ne]": "2026-01-01T00:00:00Z"},
                                                               "created_at[ne]")):
            response = client.get("/api/quarantine", params=params)
            assert (response.status_code, response.json()["error"]["field"]) == (422, field)
        assert client.get("/api/quarantine/nope").status_code == 404
        assert client.post("/api/quarantine/nope/discard", json={"reason": "x"}).status_code == 404
    with server.client("read") as reader:
        assert reader.post("/api/quarantine/replay").status_code == 403
        assert len(reader.get("/api/quarantine").json()) == 5
