"""The HTTP API against a real server process (see ``conftest.server``), on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ledger_pipeline.ledger.store import Store

DOCS = Path(__file__).parents[2] / "docs"


def _main_ledger(client: httpx.Client) -> str:
    ledgers = client.get("/api/ledgers").json()
    return next(ledger["id"] for ledger in ledgers if ledger["name"] == "main")


def _account(client: httpx.Client, ledger_id: str, name: str, normal: str, **extra) -> str:
    response = client.post("/api/ledger_accounts", json={
        "name": name, "ledger_id": ledger_id, "normal_balance": normal, "currency": "USD", **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _entries(debit: str, credit: str, amount: int, credit_amount: int | None = None) -> list[dict]:
    return [{"ledger_account_id": debit, "direction": "debit", "amount": amount},
            {"ledger_account_id": credit, "direction": "credit",
             "amount": amount if credit_amount is None else credit_amount}]


def _all(client: httpx.Client, path: str, **params) -> list[dict]:
    """Every page of a list, following ``X-After-Cursor``."""
    rows, cursor = [], None
    while True:
        response = client.get(path, params={**params, **({"after_cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        rows += response.json()
        cursor = response.headers.get("X-After-Cursor")
        if not cursor:
            return rows


def test_resources(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        assert client.get(f"/api/ledgers/{ledger_id}").json()["name"] == "main"
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        assert _account(client, ledger_id, "cash", "debit") == cash  # the same definition again: the same account

        created = client.post("/api/ledger_transactions", json={
            "ledger_entries": _entries(cash, revenue, 1234), "status": "pending", "external_id": "order-1",
            "effective_at": "2026-01-15T10:00:00Z", "metadata": {"order": "1", "channel": "web"},
            "description": "Order 1"})
        assert created.status_code == 201, created.text
        tx = created.json()
        assert (tx["object"], tx["status"], tx["external_id"], tx["metadata"]) == (
            "ledger_transaction", "pending", "order-1", {"order": "1", "channel": "web"})
        assert sorted((e["direction"], e["amount"], e["amount_decimal"]) for e in tx["ledger_entries"]) == [
            ("credit", 1234, "12.34"), ("debit", 1234, "12.34")]
        assert client.get(f"/api/ledger_transactions/{tx['id']}").json() == tx

        for i in range(2, 5):
            response = client.post("/api/ledger_transactions", json={
                "ledger_entries": _entries(cash, revenue, 100 * i), "external_id": f"order-{i}",
                "effective_at": f"2026-02-0{i}T00:00:00Z", "metadata": {"order": str(i), "channel": "shop"}})
            assert response.status_code == 201, response.text

        balances = client.get(f"/api/ledger_accounts/{cash}").json()["balances"]
        assert balances["posted_balance"]["amount"] == 900 and balances["posted_balance"]["amount_decimal"] == "9.00"
        assert balances["pending_balance"]["amount"] == 2134
        assert balances["available_balance"]["amount"] == 900  # debit-normal: posted debits - pending credits

        # filters and pagination
        assert [t["external_id"] for t in _all(client, "/api/ledger_transactions", per_page=1)] == [
            "order-1", "order-2", "order-3", "order-4"]
        assert [t["external_id"] for t in _all(client, "/api/ledger_transactions", status="pending")] == ["order-1"]
        assert [t["external_id"] for t in _all(client, "/api/ledger_transactions",
                                               **{"metadata[channel]": "shop", "metadata[order]": "3"})] == ["order-3"]
        assert [t["external_id"] for t in _all(client, "/api/ledger_transactions", **{
            "effective_at[gte]": "2026-02-03T00:00:00Z", "effective_at[lt]": "2026-02-04T00:00:00Z"})] == ["order-3"]
        assert len(_all(client, "/api/ledger_transactions", ledger_account_id=cash, per_page=3)) == 4
        entries = _all(client, "/api/ledger_entries", ledger_account_id=revenue, per_page=2)
        assert sorted(e["amount"] for e in entries) == [200, 300, 400, 1234]
        assert {e["ledger_account_id"] for e in entries} == {revenue}
        assert [e["amount"] for e in _all(client, "/api/ledger_entries", ledger_account_id=cash,
                                          **{"metadata[order]": "4"})] == [400]
        assert len(_all(client, "/api/ledger_accounts", per_page=1)) == 2

        # pending -> posted, then a reversal
        posted = client.patch(f"/api/ledger_transactions/{tx['id']}", json={"status": "posted"})
        assert posted.status_code == 200, posted.text
        assert posted.json()["status"] == "posted"
        assert client.get(f"/api/ledger_accounts/{cash}").json()["balances"]["posted_balance"]["amount"] == 2134
        reversal = client.post(f"/api/ledger_transactions/{tx['id']}/reversal")
        assert reversal.status_code == 201, reversal.text
        assert reversal.json()["reverses_ledger_transaction_id"] == tx["id"]
        assert client.post(f"/api/ledger_transactions/{tx['id']}/reversal").json() == reversal.json()
        assert client.get(f"/api/ledger_accounts/{revenue}").json()["balances"]["posted_balance"]["amount"] == 900

        # archiving a pending transaction releases its hold
        held = client.post("/api/ledger_transactions", json={
            "ledger_entries": _entries(cash, revenue, 50), "status": "pending"}).json()
        assert client.get(f"/api/ledger_accounts/{cash}").json()["balances"]["pending_balance"]["amount"] == 950
        archived = client.patch(f"/api/ledger_transactions/{held['id']}", json={"status": "archived"})
        assert archived.json()["status"] == "archived"
        assert client.get(f"/api/ledger_accounts/{cash}").json()["balances"]["pending_balance"]["amount"] == 900

        # balances as of an effective time
        as_of = client.get(f"/api/ledger_accounts/{cash}", params={"as_of": "2026-02-03T12:00:00Z"}).json()
        assert as_of["balances"]["posted_balance"]["amount"] == 1234 + 200 + 300
        assert as_of["balances"]["effective_at_upper_bound"].startswith("2026-02-03T12:00:00")
        listed = _all(client, "/api/ledger_accounts", as_of="2026-01-01T00:00:00Z")
        assert {a["balances"]["pending_balance"]["amount"] for a in listed} == {0}

        # a second ledger: its accounts and transactions are apart from main's
        created_ledger = client.post("/api/ledgers", json={"name": "wallets", "metadata": {"team": "payments"}})
        assert created_ledger.status_code == 201, created_ledger.text
        wallets = created_ledger.json()
        assert (wallets["object"], wallets["metadata"]) == ("ledger", {"team": "payments"})
        assert client.post("/api/ledgers", json={"name": "wallets"}).json()["id"] == wallets["id"]
        assert client.get(f"/api/ledgers/{wallets['id']}").json() == wallets
        assert client.get("/api/ledgers/no-such-ledger").status_code == 404
        float_account = _account(client, wallets["id"], "float", "debit")
        user = _account(client, wallets["id"], "user 1", "credit")
        in_wallets = client.post("/api/ledger_transactions", json={
            "ledger_id": wallets["id"], "ledger_entries": _entries(float_account, user, 77)})
        assert in_wallets.status_code == 201, in_wallets.text
        assert in_wallets.json()["ledger_id"] == wallets["id"]
        assert [t["id"] for t in _all(client, "/api/ledger_transactions", ledger_id=wallets["id"])] == [
            in_wallets.json()["id"]]
        assert {a["name"] for a in _all(client, "/api/ledger_accounts", ledger_id=wallets["id"])} == {
            "float", "user 1"}
        assert [e["amount"] for e in _all(client, "/api/ledger_entries", ledger_id=wallets["id"],
                                          status="posted", ledger_account_id=user)] == [77]

        # the served OpenAPI document is the one kept in the repository
        served = client.get("/api/openapi.json").json()
    assert served == json.loads((DOCS / "openapi.json").read_text())


def test_idempotent_retries_return_the_same_response_and_write_once(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        body = {"ledger_entries": _entries(cash, revenue, 500), "metadata": {"k": "v"}}
        first = client.post("/api/ledger_transactions", json=body, headers={"Idempotency-Key": "abc"})
        again = client.post("/api/ledger_transactions", json=body, headers={"Idempotency-Key": "abc"})
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()

        by_external_id = {"ledger_entries": _entries(cash, revenue, 700), "external_id": "evt-9"}
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: client.post("/api/ledger_transactions", json=by_external_id),
                                      range(8)))
        assert {r.status_code for r in responses} == {201}
        assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1

        assert len(_all(client, "/api/ledger_transactions")) == 2
        assert client.get(f"/api/ledger_accounts/{cash}").json()["balances"]["posted_balance"]["amount"] == 1200

        changed = client.post("/api/ledger_transactions", json={**body, "metadata": {"k": "other"}},
                              headers={"Idempotency-Key": "abc"})
        assert changed.status_code == 422
        assert changed.json()["error"]["reason_codes"] == ["external_id_conflict"]


def test_authentication_and_scopes(server):
    with server.client(None) as anonymous:
        response = anonymous.get("/api/ledgers")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    with server.client("lp_not-a-key") as wrong:
        assert wrong.get("/api/ledgers").status_code == 401
    with server.client("read") as reader, server.client() as writer:
        ledger_id = _main_ledger(reader)
        refused = reader.post("/api/ledger_accounts", json={
            "name": "cash", "ledger_id": ledger_id, "normal_balance": "debit", "currency": "USD"})
        assert refused.status_code == 403
        assert refused.json() == {"error": {"code": "forbidden", "message": "this API key lacks the write scope"}}
        assert reader.get("/api/ledger_accounts").json() == []
        assert writer.get("/api/ledger_accounts").status_code == 200


def test_bad_input_gets_422_naming_the_field_or_the_reason_codes(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")

        def create(payload, **kwargs):
            return client.post("/api/ledger_transactions", json=payload, **kwargs)

        unbalanced = create({"ledger_entries": _entries(cash, revenue, 1000, 999)})
        assert unbalanced.status_code == 422
        assert unbalanced.json()["error"]["code"] == "rule_violation"
        assert unbalanced.json()["error"]["reason_codes"] == ["unbalanced"]
        unknown = create({"ledger_entries": _entries(cash, "no-such-account", 10)})
        assert (unknown.status_code, unknown.json()["error"]["reason_codes"]) == (422, ["unknown_account"])

        malformed = client.post("/api/ledger_transactions", content=b'{"ledger_entries": [',
                                headers={"Content-Type": "application/json"})
        assert malformed.status_code == 422
        assert (malformed.json()["error"]["code"], malformed.json()["error"]["field"]) == ("invalid_json", "body")
        for amount in (12.5, "1000", True, None):
            entries = _entries(cash, revenue, 1000)
            entries[1]["amount"] = amount
            response = create({"ledger_entries": entries})
            assert response.status_code == 422, (amount, response.text)
            assert response.json()["error"]["field"] == "ledger_entries.1.amount"
        for payload, field in (({"ledger_entries": []}, "ledger_entries"),
                               ({"ledger_entries": _entries(cash, revenue, 1), "status": "done"}, "status"),
                               ({"ledger_entries": _entries(cash, revenue, 1), "colour": "red"}, "colour"),
                               ({"ledger_entries": _entries(cash, revenue, 1), "effective_at": "soon"},
                                "effective_at"),
                               ({"ledger_entries": _entries(cash, revenue, 1), "ledger_id": "nope"}, "ledger_id")):
            response = create(payload)
            assert response.status_code == 422, (payload, response.text)
            assert response.json()["error"]["field"] == field

        too_large = create({"ledger_entries": _entries(cash, revenue, 1), "description": "x" * 70_000})
        assert too_large.status_code == 413
        assert too_large.json()["error"]["code"] == "body_too_large"

        for params, field in (({"per_page": "0"}, "per_page"), ({"status": "gone"}, "status"),
                              ({"effective_at[gte]": "yesterday"}, "effective_at[gte]")):
            response = client.get("/api/ledger_transactions", params=params)
            assert (response.status_code, response.json()["error"]["field"]) == (422, field)
        assert client.get(f"/api/ledger_accounts/{cash}", params={"as_of": "2026-13-01"}).status_code == 422

        assert client.get("/api/ledger_transactions/nope").json()["error"]["code"] == "not_found"
        assert client.patch("/api/ledger_transactions/nope", json={"status": "posted"}).status_code == 404
        posted = create({"ledger_entries": _entries(cash, revenue, 5)}).json()
        to_archived = client.patch(f"/api/ledger_transactions/{posted['id']}", json={"status": "archived"})
        assert (to_archived.status_code, to_archived.json()["error"]["reason_codes"]) == (
            422, ["immutable_posted"])
        assert client.get("/api/no-such-thing").status_code == 404
        assert len(_all(client, "/api/ledger_transactions")) == 1


def test_a_limited_account_is_never_overdrawn_by_concurrent_creates(server):
    with server.client(limits=httpx.Limits(max_connections=64)) as client:
        ledger_id = _main_ledger(client)
        funding = _account(client, ledger_id, "funding", "debit")
        wallet = _account(client, ledger_id, "wallet", "credit", min_available_balance=0)
        merchant = _account(client, ledger_id, "merchant", "credit")
        assert client.post("/api/ledger_transactions", json={
            "ledger_entries": _entries(funding, wallet, 10_000)}).status_code == 201
        spend = [{"ledger_account_id": wallet, "direction": "debit", "amount": 1_000},
                 {"ledger_account_id": merchant, "direction": "credit", "amount": 1_000}]
        with ThreadPoolExecutor(32) as pool:
            responses = list(pool.map(
                lambda i: client.post("/api/ledger_transactions", json={
                    "ledger_entries": spend, "external_id": f"spend-{i}"}), range(32)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(201) == 10 and statuses.count(422) == 22, statuses
        assert {tuple(r.json()["error"]["reason_codes"]) for r in responses if r.status_code == 422} == {
            ("balance_limit_exceeded",)}
        balances = client.get(f"/api/ledger_accounts/{wallet}").json()["balances"]
        assert balances["available_balance"]["amount"] == 0
        assert balances["posted_balance"]["amount"] == 0


def test_the_server_never_answers_500_to_bad_input(server):
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        pending = client.post("/api/ledger_transactions", json={
            "ledger_entries": _entries(cash, revenue, 10), "status": "pending"}).json()
        requests = [
            ("POST", "/api/ledger_accounts", {"name": "x", "ledger_id": ledger_id, "normal_balance": "debit",
                                              "currency": "NOPE"}),
            ("POST", "/api/ledger_accounts", {"name": "cash", "ledger_id": ledger_id, "normal_balance": "credit",
                                              "currency": "USD"}),
            ("POST", "/api/ledger_accounts", {"name": "y", "ledger_id": ledger_id, "normal_balance": "debit",
                                              "currency": "USD", "min_available_balance": 10**40}),
            ("POST", "/api/ledger_accounts", {"name": "z\u0000", "ledger_id": ledger_id, "normal_balance": "debit",
                                              "currency": "USD"}),
            ("POST", "/api/ledgers", {"name": "n\u0000"}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, 10**40)}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, -5)}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, 0)}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, 5),
                                                  "description": "nul \u0000 byte"}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, 5),
                                                  "metadata": {"k\u0000": "v"}}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, 5),
                                                  "external_id": "e\u0000"}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": _entries(cash, revenue, 5),
                                                  "effective_at": "0001-01-01T00:00:00Z"}),
            ("POST", "/api/ledger_transactions", {"ledger_entries": [
                {"ledger_account_id": cash, "direction": "debit", "amount": 5, "currency": "EUR"},
                {"ledger_account_id": revenue, "direction": "credit", "amount": 5, "currency": "EUR"}]}),
            ("POST", "/api/ledger_transactions", [1, 2]),
            ("POST", f"/api/ledger_transactions/{pending['id']}/reversal", None),
            ("POST", f"/api/ledger_transactions/{pending['id']}/reversal", {"external_id": 5}),
            ("PATCH", f"/api/ledger_transactions/{pending['id']}", {"status": "pending"}),
            ("GET", "/api/ledger_transactions?metadata%5Bk%22%5C%5D=v", None),
            ("GET", "/api/ledger_transactions?ledger_account_id=%00", None),
            ("GET", "/api/ledger_transactions?after_cursor=zzz&per_page=abc", None),
            ("GET", "/api/ledger_accounts?as_of=9999-12-31T23:59:59%2B14:00", None),
            ("GET", "/api/ledger_entries?effective_at%5Bne%5D=2026-01-01T00:00:00Z", None),
        ]
        for method, path, body in requests:
            response = client.request(method, path, json=body)
            assert response.status_code < 500, (method, path, body, response.text)
            if response.status_code >= 400:
                assert set(response.json()["error"]) >= {"code", "message"}, response.text


# a UUID that names nothing, above every id (so no page follows it either)
UNKNOWN_ID = "ffffffff-ffff-7fff-bfff-ffffffffffff"


def test_an_id_that_is_no_uuid_is_not_found_in_a_path_and_refused_elsewhere(server):
    """Ledger ids are UUIDs: other text where one goes (a name, a typo) is answered like an id that names
    nothing in a path (404), and refused with 422 naming the query parameter or field elsewhere, never 500."""
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        assert client.post("/api/ledger_transactions", json={"ledger_entries": _entries(cash, revenue, 10)}
                           ).status_code == 201
        category = client.post("/api/ledger_account_categories", json={
            "name": "income", "ledger_id": ledger_id, "normal_balance": "credit"})
        assert category.status_code == 201, category.text
        category_id = category.json()["id"]

        for unknown in ("not-a-uuid", "main", UNKNOWN_ID):
            for method, path, body in (
                ("GET", f"/api/ledgers/{unknown}", None),
                ("GET", f"/api/ledger_accounts/{unknown}", None),
                ("GET", f"/api/ledger_accounts/{unknown}?as_of=2026-01-01T00:00:00Z", None),
                ("GET", f"/api/ledger_transactions/{unknown}", None),
                ("PATCH", f"/api/ledger_transactions/{unknown}", {"status": "posted"}),
                ("POST", f"/api/ledger_transactions/{unknown}/reversal", None),
                ("GET", f"/api/ledger_account_categories/{unknown}", None),
                ("PUT", f"/api/ledger_account_categories/{unknown}/ledger_accounts/{cash}", None),
                ("PUT", f"/api/ledger_account_categories/{category_id}/ledger_accounts/{unknown}", None),
                ("PUT", f"/api/ledger_account_categories/{category_id}/ledger_account_categories/{unknown}", None),
            ):
                response = client.request(method, path, json=body)
                assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), (
                    method, path, response.text)
        assert client.get(f"/api/ledgers/{ledger_id.upper()}").json()["id"] == ledger_id  # a UUID in any case
        assert client.get(f"/api/ledger_accounts/{cash.upper()}").json()["id"] == cash

        for path, field in (("/api/ledgers", "after_cursor"), ("/api/ledger_accounts", "after_cursor"),
                            ("/api/ledger_accounts", "ledger_id"), ("/api/ledger_transactions", "after_cursor"),
                            ("/api/ledger_transactions", "ledger_id"), ("/api/ledger_transactions", "ledger_account_id"),
                            ("/api/ledger_entries", "after_cursor"), ("/api/ledger_entries", "ledger_id"),
                            ("/api/ledger_entries", "ledger_account_id"),
                            ("/api/ledger_account_categories", "after_cursor"),
                            ("/api/ledger_account_categories", "ledger_id")):
            for value in ("cash", "main", "zzz", "\u0000"):
                response = client.get(path, params={field: value})
                assert (response.status_code, response.json()["error"]["code"], response.json()["error"]["field"]
                        ) == (422, "invalid_parameter", field), (path, field, value, response.text)
            listed = client.get(path, params={field: UNKNOWN_ID})
            assert (listed.status_code, listed.json()) == (200, []), (path, field, listed.text)

        new_account = {"name": "x", "ledger_id": "main", "normal_balance": "credit", "currency": "USD"}
        for path, payload, field in (
            ("/api/ledger_accounts", new_account, "ledger_id"),
            ("/api/ledger_transactions", {"ledger_id": "main", "ledger_entries": _entries(cash, revenue, 1)},
             "ledger_id"),
            ("/api/ledger_account_categories", {"name": "x", "ledger_id": "main", "normal_balance": "debit"},
             "ledger_id"),
            ("/api/internal_accounts", {"name": "x", "account_identifier": "1", "currency": "USD",
                                        "ledger_account_id": "cash"}, "ledger_account_id"),
            ("/api/external_accounts", {"name": "x", "currency": "USD", "ledger_account": new_account},
             "ledger_account.ledger_id"),
        ):
            response = client.post(path, json=payload)
            assert (response.status_code, response.json()["error"]["field"]) == (422, field), (path, response.text)
        assert _all(client, "/api/internal_accounts") == _all(client, "/api/external_accounts") == []
        assert len(_all(client, "/api/ledger_transactions")) == 1


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)  # --workers above 1 needs PostgreSQL
@pytest.mark.parametrize("server_args", [["--workers", "2"]])
def test_two_server_processes_write_each_transaction_once(store_url, server_args, request):
    server = request.getfixturevalue("server")
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    assert len(children) >= 2  # uvicorn's two server processes (and its multiprocessing helper)
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        same = {"ledger_entries": _entries(cash, revenue, 700), "external_id": "evt-once"}

        def post(i: int) -> httpx.Response:
            body = same if i % 2 else {"ledger_entries": _entries(cash, revenue, 1), "external_id": f"evt-{i}"}
            with server.client() as own:  # a connection each: the kernel spreads them over both processes
                return own.post("/api/ledger_transactions", json=body)

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(post, range(32)))
        assert {r.status_code for r in responses} == {201}
        assert len({r.json()["id"] for r, i in zip(responses, range(32), strict=True) if i % 2}) == 1
        assert len(_all(client, "/api/ledger_transactions")) == 17
        balance = client.get(f"/api/ledger_accounts/{cash}").json()["balances"]["posted_balance"]["amount"]
        assert balance == 700 + 16


def test_workers_need_postgresql(duckdb_url):
    from typer.testing import CliRunner

    from ledger_pipeline.cli import app
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    initialize_store(Store(duckdb_url))
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--no-webhooks", "--store", duckdb_url])
    assert result.exit_code == 2
    assert "needs PostgreSQL" in result.output


def _server_backends(server) -> list[int]:
    """The PostgreSQL backends serving the server process's connections (found by their client ports)."""
    import psutil

    ports = {c.laddr.port for c in psutil.Process(server.process.pid).net_connections("tcp")
             if c.raddr and c.raddr.port == 5432}
    with Store(server.store_url).connect() as conn:
        return [pid for pid, port in conn.all("SELECT pid, client_port FROM pg_stat_activity "
                                              "WHERE client_port IS NOT NULL") if port in ports]


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)  # the database ends the server's connections
@pytest.mark.parametrize("server_args", [["--key-cache-s", "3600"]])
def test_balance_reads_outlive_the_database_ending_the_servers_connections(store_url, server_args, request):
    """A database restart (or an idle timeout) ends every connection the server holds: the next balance read
    still answers, on a new connection, with the same balances."""
    server = request.getfixturevalue("server")
    with server.client() as client:
        ledger_id = _main_ledger(client)
        cash = _account(client, ledger_id, "cash", "debit")
        revenue = _account(client, ledger_id, "revenue", "credit")
        assert client.post("/api/ledger_transactions", json={"ledger_entries": _entries(cash, revenue, 1234)}
                           ).status_code == 201
        before = client.get(f"/api/ledger_accounts/{cash}")
        assert before.status_code == 200

        def read_at_once(n: int) -> list[httpx.Response]:  # enough at once to open every read connection
            def read(_: int) -> httpx.Response:
                with server.client() as own:
                    return own.get(f"/api/ledger_accounts/{cash}")

            with ThreadPoolExecutor(n) as pool:
                return list(pool.map(read, range(n)))

        read_at_once(32)
        backends = _server_backends(server)
        assert backends
        with Store(server.store_url).connect() as conn:
            for pid in backends:
                conn.scalar("SELECT pg_terminate_backend(:pid)", {"pid": pid})
        after = client.get(f"/api/ledger_accounts/{cash}")
        assert after.status_code == 200, after.text
        assert after.json()["balances"] == before.json()["balances"]
        assert after.json()["balances"]["posted_balance"]["amount"] == 1234
        assert {r.status_code for r in read_at_once(32)} == {200}
        assert not set(_server_backends(server)) & set(backends)
