"""Rule 8: the ledger-wide invariants, checked over the whole store in two queries.

* per ledger and currency, total debits equal total credits over posted entries (and over pending ones);
* every stored balance equals the balance recomputed from the account's entries.

These back the Dagster asset checks; they also serve as a test oracle.
"""

from __future__ import annotations

from ledger_pipeline.ledger.balances import recomputed_balance_sums_sql
from ledger_pipeline.ledger.rules import Violation
from ledger_pipeline.ledger.store import Connection

_TRIAL_BALANCE = """
SELECT l.name AS ledger, e.currency,
    sum(CASE WHEN e.status = 'posted' AND e.direction = 'debit' THEN e.amount ELSE 0 END) AS posted_debits,
    sum(CASE WHEN e.status = 'posted' AND e.direction = 'credit' THEN e.amount ELSE 0 END) AS posted_credits,
    sum(CASE WHEN e.status <> 'archived' AND e.direction = 'debit' THEN e.amount ELSE 0 END) AS pending_debits,
    sum(CASE WHEN e.status <> 'archived' AND e.direction = 'credit' THEN e.amount ELSE 0 END) AS pending_credits
FROM ledger_entries e
JOIN ledger_accounts a ON a.id = e.ledger_account_id
JOIN ledgers l ON l.id = a.ledger_id
GROUP BY l.name, e.currency
ORDER BY l.name, e.currency
"""

_BALANCE_DRIFT = f"""
SELECT a.name, a.id, b.posted_debits, b.posted_credits, b.pending_debits, b.pending_credits,
    COALESCE(r.posted_debits, 0), COALESCE(r.posted_credits, 0), COALESCE(r.pending_debits, 0),
    COALESCE(r.pending_credits, 0)
FROM ledger_account_balances b
JOIN ledger_accounts a ON a.id = b.ledger_account_id
LEFT JOIN ({recomputed_balance_sums_sql()}) r ON r.ledger_account_id = b.ledger_account_id
WHERE b.posted_debits <> COALESCE(r.posted_debits, 0) OR b.posted_credits <> COALESCE(r.posted_credits, 0)
   OR b.pending_debits <> COALESCE(r.pending_debits, 0) OR b.pending_credits <> COALESCE(r.pending_credits, 0)
"""


_KINDS = {
    "posted_debits": "e.status = 'posted' AND e.direction = 'debit'",
    "posted_credits": "e.status = 'posted' AND e.direction = 'credit'",
    "pending_debits": "e.status <> 'archived' AND e.direction = 'debit'",
    "pending_credits": "e.status <> 'archived' AND e.direction = 'credit'",
}
_LIMB = 10**19

# DuckDB sums DECIMAL(38,0) in DECIMAL(38,0) and fails past 38 digits, which a whole ledger's total in one
# currency may exceed even when every account's balance fits. There the amounts are summed in two 19-digit
# limbs (exact in HUGEINT for any realistic number of entries) and recombined in Python.
_TRIAL_BALANCE_LIMBS = "SELECT l.name AS ledger, e.currency, " + ", ".join(
    f"sum(CASE WHEN {cond} THEN CAST(e.amount AS HUGEINT) // {_LIMB} ELSE 0 END) AS {kind}_hi, "
    f"sum(CASE WHEN {cond} THEN CAST(e.amount AS HUGEINT) % {_LIMB} ELSE 0 END) AS {kind}_lo"
    for kind, cond in _KINDS.items()
) + """
FROM ledger_entries e
JOIN ledger_accounts a ON a.id = e.ledger_account_id
JOIN ledgers l ON l.id = a.ledger_id
GROUP BY l.name, e.currency
ORDER BY l.name, e.currency
"""


def trial_balance(conn: Connection) -> list[dict]:
    """Per ledger and currency, total debits and credits of posted and of pending entries (exact ints)."""
    if not conn.is_postgres:
        rows = conn.dicts(_TRIAL_BALANCE_LIMBS)
        return [
            {"ledger": row["ledger"], "currency": row["currency"],
             **{kind: int(row[f"{kind}_hi"]) * _LIMB + int(row[f"{kind}_lo"]) for kind in _KINDS}}
            for row in rows
        ]
    rows = conn.dicts(_TRIAL_BALANCE)
    for row in rows:
        for key in _KINDS:
            row[key] = int(row[key])
    return rows


def check_trial_balance(conn: Connection) -> list[Violation]:
    violations = []
    for row in trial_balance(conn):
        for kind in ("posted", "pending"):
            debits, credits = row[f"{kind}_debits"], row[f"{kind}_credits"]
            if debits != credits:
                violations.append(Violation(
                    f"{row['ledger']}/{row['currency']}", None, "ledger_unbalanced",
                    f"ledger {row['ledger']} {row['currency']} {kind}: debits {debits} != credits {credits}",
                ))
    return violations


def check_balance_drift(conn: Connection) -> list[Violation]:
    violations = []
    for row in conn.all(_BALANCE_DRIFT):
        name, account_id, stored, recomputed = row[0], row[1], row[2:6], row[6:10]
        violations.append(Violation(
            account_id, None, "balance_drift",
            f"account {name}: stored (posted_dr, posted_cr, pending_dr, pending_cr) "
            f"{tuple(int(x) for x in stored)} != recomputed {tuple(int(x) for x in recomputed)}",
        ))
    return violations


def check_invariants(conn: Connection) -> list[Violation]:
    return check_trial_balance(conn) + check_balance_drift(conn)
