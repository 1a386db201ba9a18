"""Read-only queries of the ledger for people and tools: accounts with their definitions, the exponent of
each currency, and a whole table written to CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledger_pipeline.ledger.store import Connection, quote_identifier


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


def export_table_csv(conn: Connection, table_name: str, path: Path) -> int:
    """Write every row of ``table_name``, ordered by its first column, to the CSV file ``path`` with a header
    line; returns the number of rows. Amounts stay exact integers of minor units."""
    return conn.engine.export_csv(conn, f"SELECT * FROM {quote_identifier(table_name)} ORDER BY 1", path)
