"""Read-only queries of the ledger for people and tools: accounts with their definitions, the exponent of
each currency, and a whole table written to CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv

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
    if conn.is_postgres:
        with open(path, "wb") as handle, conn.raw.cursor() as cur, cur.copy(
            f"COPY ({select}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        ) as copy:
            for chunk in copy:
                handle.write(chunk)
        return int(conn.scalar(f"SELECT count(*) FROM {name}"))
    data = conn.arrow(select)
    pacsv.write_csv(data, path)
    return data.num_rows
