"""Read-only queries of the ledger for people and tools: accounts with their definitions (one with its
balances and link), the exponent of each currency, transactions by account, effective time and metadata,
the audit log, and a whole table written to CSV."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.store import Connection, params_list, quote_identifier


def list_accounts(conn: Connection, *, ledger: str | None = None) -> list[dict[str, Any]]:
    """Ledger accounts (of every ledger, or of one) with their definitions, by ledger then name."""
    return conn.dicts(
        "SELECT l.name AS ledger, a.name, a.id, a.normal_balance, a.currency, a.currency_exponent, "
        "a.min_available_balance, a.max_available_balance, a.archived_at FROM ledger_accounts a "
        "JOIN ledgers l ON l.id = a.ledger_id WHERE CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger "
        "ORDER BY l.name, a.name", {"ledger": ledger})


def currency_exponents(conn: Connection) -> dict[str, int]:
    """The exponent of each currency the ledger's accounts hold."""
    return dict(conn.all("SELECT DISTINCT currency, currency_exponent FROM ledger_accounts"))


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection); SQL spellings.
FORMULA_STARTS = ("'='", "'+'", "'-'", "'@'", "chr(9)", "chr(13)")


def _spreadsheet_safe_select(conn: Connection, name: str, table_name: str) -> str:
    """``SELECT`` of every column of ``table_name`` in which a text value starting with a formula character
    gets a leading ``'`` (numbers are left alone: ``-1250`` is a number, not a formula)."""
    columns = conn.all(
        "SELECT column_name, lower(data_type) FROM information_schema.columns WHERE table_name = :table "
        "AND table_schema = current_schema() ORDER BY ordinal_position", {"table": table_name})
    starts = ", ".join(FORMULA_STARTS)
    parts = []
    for column, data_type in columns:
        col = quote_identifier(column)
        if data_type in ("text", "varchar", "character varying"):
            parts.append(f"CASE WHEN substr({col}, 1, 1) IN ({starts}) THEN chr(39) || {col} ELSE {col} END "
                         f"AS {col}")
        else:
            parts.append(col)
    return f"SELECT {', '.join(parts) or '*'} FROM {name} ORDER BY 1"


def export_table_csv(conn: Connection, table_name: str, path: Path, raw: bool = False) -> int:
    """Write every row of ``table_name``, ordered by its first column, to the CSV file ``path`` with a header
    line; returns the number of rows. Amounts stay exact integers of minor units. Unless ``raw``, a text
    cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so that
    a spreadsheet shows it as text instead of running it as a formula."""
    name = quote_identifier(table_name)
    select = f"SELECT * FROM {name} ORDER BY 1" if raw else _spreadsheet_safe_select(conn, name, table_name)
    return conn.engine.export_csv(conn, select, path)


def account_detail(conn: Connection, *, ledger: str, account: str) -> dict[str, Any] | None:
    """One account (name or id) with its definition, metadata, balances and link to a bank-side account
    (internal or external account), or None."""
    from ledger_pipeline.ledger.balances import account_balances

    rows = conn.dicts(
        "SELECT l.name AS ledger, a.id, a.name, a.description, a.normal_balance, a.currency, a.currency_exponent, "
        "a.metadata, a.min_available_balance, a.max_available_balance, a.archived_at, a.created_at, "
        "a.ledgerable_type, a.ledgerable_id, COALESCE(i.name, x.name) AS linked_name "
        "FROM ledger_accounts a JOIN ledgers l ON l.id = a.ledger_id "
        "LEFT JOIN internal_accounts i ON a.ledgerable_type = 'internal_account' AND i.id = a.ledgerable_id "
        "LEFT JOIN external_accounts x ON a.ledgerable_type = 'external_account' AND x.id = a.ledgerable_id "
        f"WHERE l.name = :ledger AND (a.name = :account OR a.id = {uuid_or_null(':account')})",
        {"ledger": ledger, "account": account})
    if not rows:
        return None
    row = rows[0]
    row["metadata"] = json.loads(row["metadata"] or "{}")
    balances = account_balances(conn, ledger=ledger, account=row["id"])
    row["balances"] = {k: balances[0][f"{k}_amount"] for k in ("posted", "pending", "available")} if balances else {}
    row["link"] = ({"type": row["ledgerable_type"], "id": row["ledgerable_id"], "name": row["linked_name"]}
                   if row["ledgerable_type"] else None)
    for key in ("ledgerable_type", "ledgerable_id", "linked_name"):
        row.pop(key)
    return row


def search_transactions(conn: Connection, *, status: str | None = None, external_id: str | None = None,
                        ledger: str | None = None, account: str | None = None,
                        effective_from: datetime | None = None, effective_to: datetime | None = None,
                        metadata: Mapping[str, str] | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent transactions matching every filter given, each with its ``entries``, in two queries.

    ``account``: a transaction with an entry on that account (name or id); ``effective_from`` (inclusive)
    and ``effective_to`` (exclusive) bound the effective time; ``metadata``: every key has that value.
    """
    params: dict[str, Any] = {"status": status, "external_id": external_id, "ledger": ledger, "account": account}
    where = [
        "(CAST(:status AS TEXT) IS NULL OR t.status = :status)",
        "(CAST(:external_id AS TEXT) IS NULL OR t.external_id = :external_id)",
        "(CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger)",
        "(CAST(:account AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM ledger_entries fe JOIN ledger_accounts fa "
        "ON fa.id = fe.ledger_account_id WHERE fe.ledger_transaction_id = t.id "
        f"AND (fa.name = :account OR fa.id = {uuid_or_null(':account')})))",
    ]
    if effective_from is not None:
        params["effective_from"] = effective_from
        where.append("t.effective_at >= :effective_from")
    if effective_to is not None:
        params["effective_to"] = effective_to
        where.append("t.effective_at < :effective_to")
    for n, (key, value) in enumerate((metadata or {}).items()):
        params[f"meta_key_{n}"], params[f"meta_value_{n}"] = conn.engine.json_key(key), value
        where.append(f"{conn.engine.json_text_at('t.metadata', f'meta_key_{n}')} = :meta_value_{n}")
    txs = conn.dicts(
        "SELECT t.id, l.name AS ledger, t.external_id, t.status, t.effective_at, t.description, t.source, "
        "t.reverses_id, t.metadata FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id "
        f"WHERE {' AND '.join(where)} ORDER BY t.created_at DESC, t.effective_at DESC LIMIT {int(limit)}", params)
    if not txs:
        return txs
    placeholders, id_params = params_list("id", [t["id"] for t in txs])
    by_tx: dict[str, list] = {}
    for entry in conn.dicts(
        "SELECT e.ledger_transaction_id, a.name AS account, e.direction, e.amount, e.currency, a.currency_exponent "
        "FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.ledger_account_id "
        f"WHERE e.ledger_transaction_id IN ({placeholders}) ORDER BY e.direction DESC, a.name", id_params,
    ):
        entry["amount"] = int(entry["amount"])
        by_tx.setdefault(entry.pop("ledger_transaction_id"), []).append(entry)
    for tx in txs:
        tx["metadata"] = json.loads(tx["metadata"] or "{}")
        tx["entries"] = by_tx.get(tx["id"], [])
    return txs


def list_audit(conn: Connection, *, object_type: str | None = None, object_id: str | None = None,
               actor: str | None = None, action: str | None = None, since: datetime | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    """Audit log rows matching every filter given, newest first; ``detail`` decoded from its JSON."""
    rows = conn.dicts(
        "SELECT id, occurred_at, actor, action, object_type, object_id, request_hash, detail FROM audit_log "
        "WHERE (CAST(:object_type AS TEXT) IS NULL OR object_type = :object_type) "
        "AND (CAST(:object_id AS TEXT) IS NULL OR object_id = :object_id) "
        "AND (CAST(:actor AS TEXT) IS NULL OR actor = :actor) "
        "AND (CAST(:action AS TEXT) IS NULL OR action = :action) "
        "AND (CAST(:since AS TIMESTAMPTZ) IS NULL OR occurred_at >= :since) "
        f"ORDER BY occurred_at DESC, change_seq DESC LIMIT {int(limit)}",
        {"object_type": object_type, "object_id": object_id, "actor": actor, "action": action, "since": since})
    for row in rows:
        row["detail"] = json.loads(row["detail"] or "{}")
    return rows
