"""Rule 8: the ledger-wide invariants, checked over the whole store.

* per ledger and currency, total debits equal total credits over posted entries (and over pending ones);
* every stored balance equals the balance recomputed from the account's entries;
* the store's identities (``check_identities``): transaction and entry ids are unique, every entry's
  transaction exists, every transaction balances per currency from its stored entries, and no external_id
  is stored twice in one ledger. A ledger can hold wrong money while the two sums above agree (a
  transaction stored twice under one id, an entry counted twice); these catch it.

These back the Dagster asset checks; they also serve as a test oracle.
"""

from __future__ import annotations

from ledger_pipeline.ledger.balances import recomputed_balance_sums_sql
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.ledger.violations import Violation

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


def trial_balance(conn: Connection) -> list[dict]:
    """Per ledger and currency, total debits and credits of posted and of pending entries (exact ints,
    whatever the totals' size: ``StoreEngine.exact_sums``)."""
    sums, as_ints = conn.engine.exact_sums(_KINDS, "e.amount")
    rows = conn.dicts(f"""
        SELECT l.name AS ledger, e.currency, {sums}
        FROM ledger_entries e
        JOIN ledger_accounts a ON a.id = e.ledger_account_id
        JOIN ledgers l ON l.id = a.ledger_id
        GROUP BY l.name, e.currency
        ORDER BY l.name, e.currency""")
    return [{"ledger": row["ledger"], "currency": row["currency"], **as_ints(row)} for row in rows]


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


_DEBITS = "sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE 0 END)"
_CREDITS = "sum(CASE WHEN e.direction = 'credit' THEN e.amount ELSE 0 END)"

# Each selects: key, reason code, detail (``MAX_IDENTITY_ROWS`` at most per check).
_IDENTITY_CHECKS: tuple[str, ...] = (
    """SELECT id, 'duplicate_transaction_id', 'transaction id ' || id || ' is stored '
           || CAST(count(*) AS TEXT) || ' times'
       FROM ledger_transactions GROUP BY id HAVING count(*) > 1""",
    """SELECT id, 'duplicate_entry_id', 'entry id ' || id || ' is stored ' || CAST(count(*) AS TEXT) || ' times'
       FROM ledger_entries GROUP BY id HAVING count(*) > 1""",
    """SELECT e.id, 'orphan_entry', 'entry ' || e.id || ' belongs to transaction ' || e.ledger_transaction_id
           || ', which is not stored'
       FROM ledger_entries e
       WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.id = e.ledger_transaction_id)""",
    f"""SELECT e.ledger_transaction_id, 'transaction_unbalanced', 'transaction ' || e.ledger_transaction_id
           || ' ' || e.currency || ': stored debits ' || CAST({_DEBITS} AS TEXT) || ' != credits '
           || CAST({_CREDITS} AS TEXT)
       FROM ledger_entries e GROUP BY e.ledger_transaction_id, e.currency HAVING {_DEBITS} <> {_CREDITS}""",
    """SELECT l.name || '/' || t.external_id, 'duplicate_external_id', 'external_id ' || t.external_id
           || ' is stored ' || CAST(count(*) AS TEXT) || ' times in ledger ' || l.name
       FROM ledger_transactions t JOIN ledgers l ON l.id = t.ledger_id
       GROUP BY l.name, t.external_id HAVING count(*) > 1""",
)
MAX_IDENTITY_ROWS = 100


def check_identities(conn: Connection) -> list[Violation]:
    """Unique ids, no orphan entry, every transaction balanced per currency, one external_id per ledger."""
    violations = []
    for sql in _IDENTITY_CHECKS:
        rows = conn.all(f"SELECT * FROM ({sql}) v ORDER BY 1 LIMIT {MAX_IDENTITY_ROWS}")
        violations += [Violation(str(key), None, code, detail) for key, code, detail in rows]
    return violations


def check_invariants(conn: Connection) -> list[Violation]:
    return check_trial_balance(conn) + check_balance_drift(conn) + check_identities(conn)
