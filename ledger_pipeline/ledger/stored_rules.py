"""The double-entry rules (docs/design.md, rules 1-7) checked over what is already stored, each in one query.

``rules.py`` refuses a bad proposed transaction before it is written; these queries verify afterwards that
nothing in the store breaks a rule anyway (a bug in a write path, a hand edit, a restore gone wrong). They
back the Dagster asset checks beside the ledger-wide invariants of ``invariants.py`` (rule 8).

Each function returns the violating rows as ``Violation`` values (capped at ``limit``; ``count_*`` gives
the full number), with the reason code of the rule in ``rules.REASON_CODES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.ledger.violations import Violation

_DEBITS = "sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE 0 END)"
_CREDITS = "sum(CASE WHEN e.direction = 'credit' THEN e.amount ELSE 0 END)"

# Each query selects: key (transaction/account id), reason_code, detail.
_RULE_QUERIES: dict[int, str] = {
    1: """
        SELECT t.id, CASE WHEN count(e.id) < 2 THEN 'too_few_entries' ELSE 'one_sided' END,
               'transaction ' || t.external_id || ' has ' || CAST(count(e.id) AS TEXT) || ' stored entries ('
               || CAST(sum(CASE WHEN e.direction = 'debit' THEN 1 ELSE 0 END) AS TEXT) || ' debits)'
        FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.ledger_transaction_id = t.id
        GROUP BY t.id, t.external_id
        HAVING count(e.id) < 2 OR sum(CASE WHEN e.direction = 'debit' THEN 1 ELSE 0 END) = 0
            OR sum(CASE WHEN e.direction = 'credit' THEN 1 ELSE 0 END) = 0""",
    2: f"""
        SELECT e.ledger_transaction_id, 'unbalanced',
               'transaction ' || e.ledger_transaction_id || ' ' || e.currency || ': debits '
               || CAST({_DEBITS} AS TEXT) || ' != credits ' || CAST({_CREDITS} AS TEXT)
        FROM ledger_entries e
        GROUP BY e.ledger_transaction_id, e.currency
        HAVING {_DEBITS} <> {_CREDITS}""",
    3: """
        SELECT e.ledger_transaction_id, 'non_positive_amount',
               'entry ' || e.id || ': amount ' || CAST(e.amount AS TEXT) || ' is not a positive integer'
        FROM ledger_entries e
        WHERE e.amount IS NULL OR e.amount <= 0 OR e.amount <> round(e.amount, 0)""",
    4: """
        SELECT e.ledger_transaction_id,
               CASE WHEN a.id IS NULL OR a.ledger_id <> t.ledger_id THEN 'unknown_account'
                    WHEN a.currency <> e.currency THEN 'currency_mismatch' ELSE 'archived_account' END,
               'entry ' || e.id || ' of ' || t.external_id || ' on account ' || e.ledger_account_id
               || ' (' || COALESCE(a.currency, 'no account') || ', entry in ' || e.currency || ')'
        FROM ledger_entries e
        JOIN ledger_transactions t ON t.id = e.ledger_transaction_id
        LEFT JOIN ledger_accounts a ON a.id = e.ledger_account_id
        WHERE a.id IS NULL OR a.ledger_id <> t.ledger_id OR a.currency <> e.currency
           OR (a.archived_at IS NOT NULL AND e.created_at > a.archived_at)""",
    5: """
        SELECT min(CAST(t.id AS TEXT)), 'external_id_conflict',
               'external_id ' || t.external_id || ' is stored ' || CAST(count(*) AS TEXT) || ' times in ledger '
               || t.ledger_id
        FROM ledger_transactions t
        GROUP BY t.ledger_id, t.external_id
        HAVING count(*) > 1""",
    6: """
        SELECT t.id, 'invalid_status_transition',
               'transaction ' || t.external_id || ' is ' || t.status || ' but '
               || CASE WHEN t.status = 'posted' AND t.posted_at IS NULL THEN 'has no posted_at'
                       WHEN t.status = 'archived' AND t.archived_at IS NULL THEN 'has no archived_at'
                       ELSE 'an entry is ' || min(e.status) END
        FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.ledger_transaction_id = t.id
        GROUP BY t.id, t.external_id, t.status, t.posted_at, t.archived_at
        HAVING (t.status = 'posted' AND t.posted_at IS NULL) OR (t.status = 'archived' AND t.archived_at IS NULL)
            OR sum(CASE WHEN e.status <> t.status THEN 1 ELSE 0 END) > 0""",
    7: """
        SELECT a.id, 'balance_limit_exceeded',
               'account ' || a.name || ' available balance ' || CAST(v.available AS TEXT) || ' breaks its limit'
        FROM (SELECT b.ledger_account_id,
                     CASE WHEN a2.normal_balance = 'credit' THEN b.posted_credits - b.pending_debits
                          ELSE b.posted_debits - b.pending_credits END AS available
              FROM ledger_account_balances b JOIN ledger_accounts a2 ON a2.id = b.ledger_account_id) v
        JOIN ledger_accounts a ON a.id = v.ledger_account_id
        WHERE (a.min_available_balance IS NOT NULL AND v.available < a.min_available_balance)
           OR (a.max_available_balance IS NOT NULL AND v.available > a.max_available_balance)""",
}


@dataclass(frozen=True)
class StoredRule:
    design_rule: int
    name: str
    description: str


STORED_RULES: tuple[StoredRule, ...] = (
    StoredRule(1, "at_least_two_entries_both_sides", "every transaction has two or more entries, a debit and a credit"),
    StoredRule(2, "balanced_per_currency", "every transaction's debits equal its credits in each currency"),
    StoredRule(3, "positive_integer_amounts", "every entry amount is a positive integer of minor units"),
    StoredRule(4, "accounts_valid", "every entry's account is in the transaction's ledger, in its currency, "
               "and was not archived when written"),
    StoredRule(5, "unique_external_id", "external_id is unique within each ledger"),
    StoredRule(6, "status_consistent", "entries mirror their transaction's status; posted/archived carry their time"),
    StoredRule(7, "balance_limits_hold", "every account with a balance limit is within it"),
)


def stored_rule_violations(conn: Connection, design_rule: int, limit: int = 100) -> list[Violation]:
    """Stored rows that break rule ``design_rule`` (1-7) of docs/design.md."""
    sql = _RULE_QUERIES[design_rule]
    return [Violation(str(key), None, code, detail)
            for key, code, detail in conn.all(f"{sql}\nLIMIT {int(limit)}")]


def count_stored_rule_violations(conn: Connection, design_rule: int) -> int:
    return int(conn.scalar(f"SELECT count(*) FROM ({_RULE_QUERIES[design_rule]}) v") or 0)

