"""Read-only queries of reconciliation results: open exceptions (unmatched items) and matches."""

from __future__ import annotations

from typing import Any

from ledger_pipeline.ledger.store import Connection


def _exact(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    """``rows`` with the NUMERIC amounts in ``columns`` as exact ints."""
    for row in rows:
        row.update({column: int(row[column]) for column in columns})
    return rows


def list_unmatched(conn: Connection, *, account: str | None = None, side: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    """Open exceptions (bank lines and ledger items left unmatched) of every internal account or one (by name
    or id), of one side (``bank`` or ``ledger``) or both, oldest first."""
    return _exact(conn.dicts(
        "SELECT i.name AS internal_account, u.side, u.item_id, u.item_date, u.amount, u.currency, u.reference, "
        "u.description, u.reason, u.age_days, u.as_of FROM recon_unmatched u "
        "JOIN internal_accounts i ON i.id = u.internal_account_id WHERE u.status = 'open' "
        "AND (CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account) "
        "AND (CAST(:side AS TEXT) IS NULL OR u.side = :side) ORDER BY u.item_date, u.side, u.item_id LIMIT :limit",
        {"account": account, "side": side, "limit": int(limit)}), "amount")


def list_matches(conn: Connection, *, account: str | None = None, rule: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    """Matches of every internal account or one (by name or id), of every rule or one, newest first, each with
    the rule that made it."""
    return _exact(conn.dicts(
        "SELECT m.id, i.name AS internal_account, m.rule, m.match_key, m.bank_count, m.ledger_count, m.bank_total, "
        "m.ledger_total, i.currency, m.created_by, m.note, m.created_at FROM recon_matches m "
        "JOIN internal_accounts i ON i.id = m.internal_account_id "
        "WHERE (CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account) "
        "AND (CAST(:rule AS TEXT) IS NULL OR m.rule = :rule) ORDER BY m.created_at DESC, m.id LIMIT :limit",
        {"account": account, "rule": rule, "limit": int(limit)}), "bank_total", "ledger_total")
