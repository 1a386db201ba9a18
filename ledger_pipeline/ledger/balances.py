"""Balances in Modern Treasury's terms: posted, pending and available, each as debits, credits and amount.

* posted: entries of posted transactions; pending: pending and posted entries; available: posted inflows
  minus pending and posted outflows (what can be spent now).
* amount = credits - debits on a credit-normal account, debits - credits on a debit-normal one.

Current balances are read from ``ledger_account_balances`` (kept in step with entries by every write);
balances as of an effective time are recomputed from entries with ``effective_at <= as_of``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger_pipeline.ledger.ids import uuid_or_null
from ledger_pipeline.ledger.store import Connection

SUMS_FROM_ENTRIES = """
SELECT ledger_account_id,
    sum(CASE WHEN status = 'posted' AND direction = 'debit' THEN amount ELSE 0 END) AS posted_debits,
    sum(CASE WHEN status = 'posted' AND direction = 'credit' THEN amount ELSE 0 END) AS posted_credits,
    sum(CASE WHEN status IN ('pending', 'posted') AND direction = 'debit' THEN amount ELSE 0 END) AS pending_debits,
    sum(CASE WHEN status IN ('pending', 'posted') AND direction = 'credit' THEN amount ELSE 0 END) AS pending_credits
FROM ledger_entries
WHERE {where}
GROUP BY ledger_account_id
"""

_ACCOUNT_ID = uuid_or_null(":account")  # an account named by its id

_BALANCES = """
SELECT l.name AS ledger, a.id AS account_id, a.name AS account, a.currency, a.currency_exponent,
    a.normal_balance, a.archived_at IS NOT NULL AS archived,
    COALESCE(s.posted_debits, 0) AS posted_debits, COALESCE(s.posted_credits, 0) AS posted_credits,
    COALESCE(s.pending_debits, 0) AS pending_debits, COALESCE(s.pending_credits, 0) AS pending_credits,
    {lock_version} AS lock_version
FROM ledger_accounts a
JOIN ledgers l ON l.id = a.ledger_id
LEFT JOIN ({sums}) s ON s.ledger_account_id = a.id
WHERE (CAST(:account AS TEXT) IS NULL OR a.name = :account OR a.id = {account_id})
  AND (CAST(:ledger AS TEXT) IS NULL OR l.name = :ledger)
ORDER BY l.name, a.name
"""


def with_amounts(row: dict[str, Any]) -> dict[str, Any]:
    """Add ``posted_amount``, ``pending_amount`` and ``available_amount`` to a row holding the debits and
    credits of each kind, signed by the row's ``normal_balance`` (exact Python ints)."""
    credit_normal = row["normal_balance"] == "credit"
    for kind in ("posted", "pending", "available"):
        debits, credits = row[f"{kind}_debits"], row[f"{kind}_credits"]
        row[f"{kind}_amount"] = credits - debits if credit_normal else debits - credits
    return row


def _with_amounts(row: dict[str, Any]) -> dict[str, Any]:
    """Add the amounts and the available balance, from the four stored sums, exactly (Python ints)."""
    for key in ("posted_debits", "posted_credits", "pending_debits", "pending_credits"):
        row[key] = int(row[key])
    credit_normal = row["normal_balance"] == "credit"
    row["available_debits"] = row["pending_debits"] if credit_normal else row["posted_debits"]
    row["available_credits"] = row["posted_credits"] if credit_normal else row["pending_credits"]
    return with_amounts(row)


def account_balances(conn: Connection, *, ledger: str | None = None, account: str | None = None,
                     as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Balances of every account (or one), now or as of an effective time. Amounts are exact ints."""
    params = {"ledger": ledger, "account": account}
    if as_of is None:
        sums = "SELECT * FROM ledger_account_balances"
        sql = _BALANCES.format(sums=sums, lock_version="COALESCE(s.lock_version, 0)", account_id=_ACCOUNT_ID)
    else:
        sums = SUMS_FROM_ENTRIES.format(where="effective_at <= CAST(:as_of AS TIMESTAMPTZ)")
        sql = _BALANCES.format(sums=sums, lock_version="NULL", account_id=_ACCOUNT_ID)
        params["as_of"] = as_of
    return [_with_amounts(row) for row in conn.dicts(sql, params)]


def recomputed_balance_sums_sql() -> str:
    """The four balance sums of every account recomputed from all of its entries (for rule 8)."""
    return SUMS_FROM_ENTRIES.format(where="1 = 1")
