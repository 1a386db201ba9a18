"""Reading ledger transactions with their entries (for the CLI and any API layer)."""

from __future__ import annotations

from typing import Any

from ledger_pipeline.ledger.store import Connection, params_list


def list_transactions(conn: Connection, *, status: str | None = None, external_id: str | None = None,
                      ledger: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent transactions (by creation, then effective time), each with its ``entries``
    (account, direction, exact integer amount, currency, exponent), in two queries."""
    txs = conn.dicts(
        "SELECT t.id, l.name AS ledger, t.external_id, t.status, t.effective_at, t.description, t.source, "
        "t.reverses_id FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
        "WHERE (CAST(:status AS TEXT) IS NULL OR t.status = :status) "
        "AND (CAST(:external_id AS TEXT) IS NULL OR t.external_id = :external_id) "
        "AND (CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger) "
        f"ORDER BY t.created_at DESC, t.effective_at DESC LIMIT {int(limit)}",
        {"status": status, "external_id": external_id, "ledger": ledger},
    )
    if not txs:
        return txs
    placeholders, params = params_list("id", [t["id"] for t in txs])
    by_tx: dict[str, list] = {}
    for entry in conn.dicts(
        "SELECT e.ledger_transaction_id, a.name AS account, e.direction, e.amount, e.currency, a.currency_exponent "
        "FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.ledger_account_id "
        f"WHERE e.ledger_transaction_id IN ({placeholders}) ORDER BY e.direction DESC, a.name",
        params,
    ):
        entry["amount"] = int(entry["amount"])
        by_tx.setdefault(entry.pop("ledger_transaction_id"), []).append(entry)
    for tx in txs:
        tx["entries"] = by_tx.get(tx["id"], [])
    return txs
