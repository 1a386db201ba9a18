"""Default ledgering of payment orders (both engines)."""

from __future__ import annotations

import pytest

from ledger_pipeline.ledger.balances import account_balances
from ledger_pipeline.ledger.errors import InputError
from ledger_pipeline.reconcile.payment_orders import auto_ledger_payment_orders, upsert_payment_orders
from tests.reconcile import scenario


def _po(po_id, direction, amount, status, receiving="acme", **extra):
    return {"id": po_id, "type": "ach", "direction": direction, "amount": amount, "currency": "USD",
            "originating_account_id": "operating", "receiving_account_id": receiving, "status": status,
            "effective_date": "2025-03-05", **extra}


def _ledger(store):
    with store.connect() as conn:
        txs = {r["external_id"]: r for r in conn.dicts(
            "SELECT t.id, t.external_id, t.status, t.ledgerable_type, t.ledgerable_id FROM ledger_transactions t")}
        entries = conn.all(
            "SELECT t.external_id, a.name, e.direction, e.amount, e.status FROM ledger_entries e "
            "JOIN ledger_transactions t ON t.id = e.ledger_transaction_id "
            "JOIN ledger_accounts a ON a.id = e.ledger_account_id ORDER BY 1, 2")
        events = conn.all("SELECT event_type, object_type, object_id FROM events ORDER BY event_type, object_id")
        links = dict(conn.all("SELECT id, ledger_transaction_id FROM payment_orders"))
    return txs, [(a, b, c, int(d), e) for a, b, c, d, e in entries], events, links


def _run(store, orders=()):
    with store.transaction() as conn:
        if orders:
            upsert_payment_orders(conn, orders)
        return auto_ledger_payment_orders(conn)


def test_payment_orders_get_ledger_transactions_that_follow_their_status(store):
    scenario.setup_bank_account(store)
    scenario.setup_external(store, "acme", "acme_ap")
    scenario.setup_external(store, "unlinked_co", "unused")
    with store.transaction() as conn:  # an external account with no ledger account
        from ledger_pipeline.reconcile.accounts import ensure_external_account
        ensure_external_account(conn, "nobody", "USD")

    result = _run(store, [
        _po("po-in", "debit", 10_000, "processing"),  # money in, pending
        _po("po-out", "credit", 3_000, "completed"),  # money out, posted at once
        _po("po-failed", "credit", 999, "failed"),  # failed before anything moved: nothing
        _po("po-nolink", "credit", 500, "processing", receiving="nobody"),  # external side not linked: nothing
        _po("po-own", "credit", 700, "processing", ledger_transaction_id="lt-elsewhere"),  # carries its own
    ])
    assert (result.created, result.transitioned, result.refused, result.events) == (2, 0, 0, 4)
    txs, entries, events, links = _ledger(store)
    assert set(txs) == {"payment_order:po-in", "payment_order:po-out"}
    assert txs["payment_order:po-in"]["status"] == "pending"
    assert txs["payment_order:po-out"]["status"] == "posted"
    assert txs["payment_order:po-in"]["ledgerable_id"] == "po-in"
    assert entries == [
        ("payment_order:po-in", "acme_ap", "credit", 10_000, "pending"),
        ("payment_order:po-in", "cash_operating", "debit", 10_000, "pending"),
        ("payment_order:po-out", "acme_ap", "debit", 3_000, "posted"),
        ("payment_order:po-out", "cash_operating", "credit", 3_000, "posted"),
    ]
    assert links["po-in"] == txs["payment_order:po-in"]["id"] and links["po-failed"] is None
    assert links["po-own"] == "lt-elsewhere"
    assert sorted((e, o) for e, o, _ in events) == [
        ("ledger_transaction.created", "ledger_transaction"), ("ledger_transaction.created", "ledger_transaction"),
        ("payment_order.auto_ledgered", "payment_order"), ("payment_order.auto_ledgered", "payment_order")]

    again = _run(store)  # nothing to do: idempotent
    assert (again.created, again.transitioned, again.events) == (0, 0, 0)

    moved = _run(store, [_po("po-in", "debit", 10_000, "completed"), _po("po-late", "credit", 1_200, "sent")])
    assert (moved.created, moved.transitioned) == (1, 1)
    cancelled = _run(store, [_po("po-late", "credit", 1_200, "cancelled")])
    assert cancelled.transitioned == 1
    txs, entries, events, _ = _ledger(store)
    assert txs["payment_order:po-in"]["status"] == "posted"
    assert txs["payment_order:po-late"]["status"] == "archived"
    assert ("ledger_transaction.posted", "ledger_transaction", txs["payment_order:po-in"]["id"]) in events
    assert ("ledger_transaction.archived", "ledger_transaction", txs["payment_order:po-late"]["id"]) in events
    with store.connect() as conn:
        cash = account_balances(conn, account="cash_operating")[0]
    assert (cash["posted_amount"], cash["pending_amount"]) == (7_000, 7_000)

    # A completed order that is later returned keeps its posted (final) transaction.
    returned = _run(store, [_po("po-out", "credit", 3_000, "returned")])
    assert (returned.created, returned.transitioned) == (0, 0)
    assert _ledger(store)[0]["payment_order:po-out"]["status"] == "posted"


def test_invalid_payment_orders_are_refused(store):
    scenario.setup_bank_account(store)
    with pytest.raises(InputError):
        _run(store, [_po("bad", "sideways", 100, "processing")])
    with pytest.raises(InputError):
        _run(store, [_po("bad", "credit", "12.50", "processing")])
    with store.connect() as conn:
        assert conn.scalar("SELECT count(*) FROM payment_orders") == 0


def test_orders_the_connector_landed_are_ledgered_by_reconciliation_and_follow_later_versions(store, tmp_path):
    """A payment order file dropped in the landing folder (``ingest payment_orders``) reaches default
    ledgering in the reconciliation run; a later file with the order completed posts its transaction."""
    import json

    from ledger_pipeline.ingest.pipeline import ingest
    from ledger_pipeline.reconcile import run_reconciliation

    scenario.setup_bank_account(store)
    scenario.setup_external(store, "acme", "acme_ap")
    first = tmp_path / "orders_1.jsonl"
    first.write_text("\n".join(json.dumps(o) for o in [
        _po("po-a", "credit", 2_500, "processing", updated_at="2025-03-05T10:00:00Z"),
        _po("po-b", "debit", 900, "completed", updated_at="2025-03-05T10:00:00Z"),
    ]) + "\n")
    ingest(store, "payment_orders", files=[first])
    run_reconciliation(store)
    txs, entries, _, links = _ledger(store)
    assert {k: v["status"] for k, v in txs.items()} == {"payment_order:po-a": "pending", "payment_order:po-b": "posted"}
    assert ("payment_order:po-a", "acme_ap", "debit", 2_500, "pending") in entries
    assert links["po-a"] == txs["payment_order:po-a"]["id"]

    second = tmp_path / "orders_2.jsonl"
    second.write_text(json.dumps(_po("po-a", "credit", 2_500, "completed", updated_at="2025-03-06T10:00:00Z")) + "\n")
    ingest(store, "payment_orders", files=[second])
    run_reconciliation(store)
    run_reconciliation(store)  # again: nothing changes
    txs, entries, _, _ = _ledger(store)
    assert {k: v["status"] for k, v in txs.items()} == {"payment_order:po-a": "posted", "payment_order:po-b": "posted"}
    assert len(entries) == 4
