"""Outbound webhooks against a real server and a real receiver (pytest-httpserver), on both engines: a
receiver that is down for a while gets every event once it is back, each once, in order, signed."""

from __future__ import annotations

import json
import socket
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ledger_pipeline.api.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, Backoff, HeldStore, sign, verify
from tests.api.test_payment_orders import _linked_accounts

FAST_RETRIES = ["--webhook-poll-s", "0.1", "--webhook-backoff-s", "0.05", "--webhook-backoff-max-s", "0.4"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout_s: float = 120) -> None:
    """Until ``predicate()``; on PostgreSQL an event waits for every older transaction of the server (the
    safe change watermark), and other databases of a shared test server hold it back too."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("server_args", [FAST_RETRIES])
def test_a_receiver_down_for_a_while_gets_every_event_once_in_order(server):
    port = _free_port()  # nothing listens there yet: the receiver is down
    with server.client() as client:
        every = client.post("/api/webhook_endpoints", json={"url": f"http://127.0.0.1:{port}/all"})
        assert every.status_code == 201, every.text
        endpoint = every.json()
        assert endpoint["secret"].startswith("whsec_") and endpoint["event_types"] == ["*"]
        only_orders = client.post("/api/webhook_endpoints", json={
            "url": f"http://127.0.0.1:{port}/orders", "event_types": ["payment_order.auto_ledgered"],
            "secret": "s" * 20}).json()

        internal, _, external, _ = _linked_accounts(client)
        order_ids = []
        for i in range(3):
            order = client.post("/api/payment_orders", json={
                "direction": "credit", "amount": 100 + i, "currency": "USD", "originating_account_id": internal,
                "receiving_account_id": external, "status": "pending"}).json()
            order_ids.append(order)
        assert client.patch(f"/api/payment_orders/{order_ids[0]['id']}", json={"status": "completed"}).status_code == 200
        assert client.patch(f"/api/payment_orders/{order_ids[1]['id']}", json={"status": "failed"}).status_code == 200

        _wait_for(lambda: client.get(f"/api/webhook_endpoints/{endpoint['id']}").json()["attempts"] >= 3)
        state = client.get(f"/api/webhook_endpoints/{endpoint['id']}").json()
        assert state["delivered"] == 0 and "ConnectError" in state["last_error"], state

        received: dict[str, list[Request]] = {"/all": [], "/orders": []}
        refused_once: set[str] = set()

        def receive(request: Request) -> Response:
            if request.path not in refused_once:  # the first request after coming back fails too
                refused_once.add(request.path)
                return Response("busy", status=503)
            received[request.path].append(request)
            return Response("ok")

        with HTTPServer(host="127.0.0.1", port=port) as receiver:
            receiver.expect_request("/all").respond_with_handler(receive)
            receiver.expect_request("/orders").respond_with_handler(receive)
            _wait_for(lambda: len(received["/all"]) >= 8 and len(received["/orders"]) >= 3)
            # a ledger transaction written through the API records its events in the same database transaction
            _, cash, _, payable = _linked_accounts(client)
            held = client.post("/api/ledger_transactions", json={"status": "pending", "ledger_entries": [
                {"ledger_account_id": cash, "direction": "debit", "amount": 9},
                {"ledger_account_id": payable, "direction": "credit", "amount": 9}]}).json()
            assert client.patch(f"/api/ledger_transactions/{held['id']}", json={"status": "posted"}).status_code == 200
            _wait_for(lambda: len(received["/all"]) >= 10)
            time.sleep(1)  # several more polls: nothing is sent twice
            all_events = [(r.headers[EVENT_ID_HEADER], json.loads(r.get_data()), r) for r in received["/all"]]
            order_events = [json.loads(r.get_data()) for r in received["/orders"]]

        assert len(all_events) == 10 and len({event_id for event_id, _, _ in all_events}) == 10
        for event_id, body, request in all_events:
            assert body["id"] == event_id
            assert verify(endpoint["secret"], request.headers[SIGNATURE_HEADER], request.get_data())
            assert not verify("another secret", request.headers[SIGNATURE_HEADER], request.get_data())
        bodies = [body for _, body, _ in all_events]
        tx_ids = [o["ledger_transaction_id"] for o in order_ids]
        # in the order they were written: each order's creation (its two events), then the two status changes
        for n, order in enumerate(order_ids):
            assert {(b["event"], b["object_id"]) for b in bodies[2 * n:2 * n + 2]} == {
                ("ledger_transaction.created", tx_ids[n]), ("payment_order.auto_ledgered", order["id"])}
        assert [(b["event"], b["object_id"]) for b in bodies[6:]] == [
            ("ledger_transaction.posted", tx_ids[0]), ("ledger_transaction.archived", tx_ids[1]),
            ("ledger_transaction.created", held["id"]), ("ledger_transaction.posted", held["id"])]
        assert bodies[-1]["data"] == {"ledger_transaction_id": held["id"], "status": "posted"}
        assert [(b["event"], b["object_id"]) for b in order_events] == [
            ("payment_order.auto_ledgered", o["id"]) for o in order_ids]

        state = client.get(f"/api/webhook_endpoints/{endpoint['id']}").json()
        assert (state["delivered"], state["attempts"], state["last_error"]) == (10, 0, None)
        removed = client.delete(f"/api/webhook_endpoints/{only_orders['id']}")
        assert removed.status_code == 200 and removed.json()["removed_at"] is not None
        assert [e["id"] for e in client.get("/api/webhook_endpoints").json()] == [endpoint["id"]]
        assert client.post("/api/webhook_endpoints", json={"url": "ftp://x"}).status_code == 422
    with server.client("read") as reader:
        assert reader.post("/api/webhook_endpoints", json={"url": "http://127.0.0.1:1/"}).status_code == 403


def test_the_delivery_worker_keeps_one_connection_from_poll_to_poll(store):
    """``serve``'s worker polls every second on one connection, and opens another once the database ended it."""
    held = HeldStore(store)
    try:
        with held.connect() as conn:
            first = conn.raw
        with held.transaction() as conn:
            assert conn.raw is first
            assert conn.scalar("SELECT count(*) FROM webhook_endpoints") == 0
        if store.is_postgres:
            with store.connect() as other:
                other.scalar("SELECT pg_terminate_backend(:pid)", {"pid": first.info.backend_pid})
            with pytest.raises(Exception, match="terminat|closed|server"), held.connect() as conn:
                conn.scalar("SELECT 1")
            with held.connect() as conn:
                assert conn.raw is not first
                assert conn.scalar("SELECT 1") == 1
        with held.connect() as conn:
            last = conn.raw
    finally:
        held.close()
    with pytest.raises(Exception, match="closed"):
        last.execute("SELECT 1")


def test_signature_scheme_and_backoff():
    body = b'{"id":"e1"}'
    header = sign("whsec_test", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_test", header, body, now=1_700_000_100)
    assert not verify("whsec_test", header, body + b" ", now=1_700_000_100)
    assert not verify("whsec_test", header, body, now=1_700_001_000)  # too old: a replay
    assert not verify("whsec_test", "v1=abc", body)
    assert [Backoff(1, 10).delay(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]


def test_webhooks_commands_configure_and_deliver(store_url, httpserver):
    from typer.testing import CliRunner

    from ledger_pipeline.cli import app
    from ledger_pipeline.ledger.events import record_event
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    runner = CliRunner()
    store = Store(store_url)
    initialize_store(store)
    with store.transaction() as conn:
        before = record_event(conn, "ledger_transaction.created", "ledger_transaction", "tx-0")

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--store", store_url])
        assert result.exit_code == code, result.output
        return result.stdout

    def data(*args: str):
        """A ``--json`` command's data, out of its envelope."""
        return json.loads(cli(*args, "--json"))["data"]

    added = data("webhooks", "add", httpserver.url_for("/hook"), "--event", "ledger_transaction.posted")
    from_start = data("webhooks", "add", httpserver.url_for("/all"), "--from-start")
    with store.transaction() as conn:
        record_event(conn, "ledger_transaction.posted", "ledger_transaction", "tx-1", {"status": "posted"})
        record_event(conn, "ledger_transaction.archived", "ledger_transaction", "tx-2")

    # An event is delivered once every transaction older than it has ended (the store's safe change
    # watermark): on a shared PostgreSQL server another database's transaction may hold it back a moment.
    httpserver.expect_request("/hook", method="POST").respond_with_data("no", status=500)
    httpserver.expect_request("/all", method="POST").respond_with_data("no", status=500)

    def attempts() -> int:
        return {e["id"]: e for e in data("webhooks", "list")}[added["id"]]["attempts"]

    deadline = time.monotonic() + 60
    while attempts() == 0:
        assert time.monotonic() < deadline, "no delivery attempt"
        failed = runner.invoke(app, ["webhooks", "deliver", "--backoff-s", "0", "--store", store_url, "--json"])
        assert failed.exit_code == (3 if json.loads(failed.stdout)["data"]["failed"] else 0), failed.output
    state = {e["id"]: e for e in data("webhooks", "list")}[added["id"]]
    assert state["delivered"] == 0 and state["last_error"].endswith(": HTTP 500"), state

    httpserver.clear()
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    httpserver.expect_request("/all", method="POST").respond_with_data("ok")
    delivered = 0
    while delivered < 4:
        assert time.monotonic() < deadline + 60, f"{delivered} of 4 delivered"
        delivered += data("webhooks", "deliver")["delivered"]
    assert delivered == 4
    assert data("webhooks", "deliver")["delivered"] == 0
    received = [(r.path, json.loads(r.get_data())) for r, _ in httpserver.log]
    assert [body["object_id"] for path, body in received if path == "/hook"] == ["tx-1"]
    assert [body["object_id"] for path, body in received if path == "/all"] == ["tx-0", "tx-1", "tx-2"]
    assert received[-3][1]["id"] == before
    cli("webhooks", "remove", added["id"])
    assert [e["id"] for e in data("webhooks", "list")] == [from_start["id"]]
    cli("webhooks", "remove", added["id"], code=2)
    cli("webhooks", "add", "not-a-url", code=2)
