"""Account reconciliation: the ledger's posted balance of each linked ledger account as of each statement
date, beside the bank's closing balance, and the variance (bank minus ledger).

Choices: "as of a statement date" means every posted entry with ``effective_at`` before the end of that day
(UTC), signed by the ledger account's normal balance, so a debit-normal cash account's balance is comparable
with the bank's balance. When an account has several statements on one date (intraday reports, or two
camt statements of one day), the one loaded last (the later in its file) gives the day's closing; statements
without a closing balance are skipped. Variances are recomputed for every statement date at each run (a
back-dated correction changes old dates too) and stored one row per account and date.

Statement integrity is checked too (:func:`statement_breaks`): opening balance + the sum of the lines =
closing balance, and opening balance = the previous statement's closing balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.reconcile.matching import utc_day


@dataclass(frozen=True)
class Variance:
    internal_account: str
    ledger_account: str
    statement_date: date
    currency: str
    ledger_balance: int
    bank_balance: int
    variance: int  # bank - ledger, minor units

    def as_dict(self) -> dict[str, Any]:
        return {"internal_account": self.internal_account, "ledger_account": self.ledger_account,
                "statement_date": self.statement_date.isoformat(), "currency": self.currency,
                "ledger_balance": self.ledger_balance, "bank_balance": self.bank_balance, "variance": self.variance}


_COMPUTE = """
INSERT INTO recon_balance_variances (id, internal_account_id, ledger_account_id, statement_id, statement_date, currency,
    ledger_balance, bank_balance, variance, run_id, computed_at, change_seq)
SELECT 'var_' || substr(md5(st.internal_account_id || '|' || st.ledger_account_id || '|' || CAST(st.statement_date AS TEXT)), 1, 24),
    st.internal_account_id, st.ledger_account_id, st.id, st.statement_date, st.currency, st.ledger_balance,
    st.closing_balance, st.closing_balance - st.ledger_balance, :run_id, :now, :seq
FROM (
    SELECT s.*, COALESCE((SELECT sum(d.net) FROM rc_daily d WHERE d.ledger_account_id = s.ledger_account_id
                          AND d.day <= s.statement_date), 0) AS ledger_balance
    FROM (SELECT b.id, b.internal_account_id, sc.ledger_account_id, b.statement_date, b.currency, b.closing_balance,
                 row_number() OVER (PARTITION BY b.internal_account_id, b.statement_date
                                    ORDER BY b.change_seq DESC, b.position DESC, b.id DESC) AS r
          FROM bank_statements b JOIN rc_scope sc ON sc.internal_account_id = b.internal_account_id
          WHERE b.closing_balance IS NOT NULL) s
    WHERE s.r = 1
) st
ON CONFLICT (id) DO UPDATE SET statement_id = EXCLUDED.statement_id, ledger_balance = EXCLUDED.ledger_balance,
    bank_balance = EXCLUDED.bank_balance, variance = EXCLUDED.variance, run_id = EXCLUDED.run_id,
    computed_at = EXCLUDED.computed_at, change_seq = EXCLUDED.change_seq
"""

_DAILY = """
SELECT sc.ledger_account_id, {day} AS day,
       sum(CASE WHEN e.direction = sc.normal_balance THEN e.amount ELSE -e.amount END) AS net
FROM ledger_entries e JOIN rc_scope sc ON e.ledger_account_id = CAST(sc.ledger_account_id AS UUID)
WHERE e.status = 'posted'
GROUP BY sc.ledger_account_id, {day}
"""


def compute_variances(conn: Connection, *, run_id: str, seq: int, now: datetime) -> int:
    """Store the variance of every statement date of the accounts in ``rc_scope``; returns how many."""
    conn.execute("DROP TABLE IF EXISTS rc_daily")
    conn.execute(f"CREATE TEMPORARY TABLE rc_daily AS {_DAILY.format(day=utc_day(conn, 'e.effective_at'))}")
    conn.execute(_COMPUTE, {"run_id": run_id, "now": now, "seq": seq})
    return int(conn.scalar("SELECT count(*) FROM recon_balance_variances WHERE run_id = :run_id", {"run_id": run_id}))


_LIST = """
SELECT i.name AS internal_account, a.name AS ledger_account, v.statement_date, v.currency, v.ledger_balance,
       v.bank_balance, v.variance
FROM recon_balance_variances v
JOIN internal_accounts i ON i.id = v.internal_account_id
JOIN ledger_accounts a ON a.id = CAST(v.ledger_account_id AS UUID)
WHERE (CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account OR a.name = :account)
  AND abs(v.variance) > :tolerance
  AND (NOT :latest_only OR v.statement_date = (SELECT max(w.statement_date) FROM recon_balance_variances w
                                               WHERE w.ledger_account_id = v.ledger_account_id))
ORDER BY i.name, v.statement_date
"""


def list_variances(conn: Connection, *, account: str | None = None, tolerance: int = -1,
                   latest_only: bool = False) -> list[Variance]:
    """Stored variances (those with ``abs(variance) > tolerance``; all of them by default)."""
    rows = conn.dicts(_LIST, {"account": account, "tolerance": tolerance, "latest_only": latest_only})
    return [Variance(r["internal_account"], r["ledger_account"], r["statement_date"], r["currency"],
                     int(r["ledger_balance"]), int(r["bank_balance"]), int(r["variance"])) for r in rows]


_STATEMENT_BREAKS = """
SELECT i.name AS internal_account, s.statement_date, s.statement_ref, s.opening_balance, s.closing_balance,
       s.lines_total, s.previous_closing,
       CASE WHEN s.opening_balance IS NOT NULL AND s.opening_balance + s.lines_total <> s.closing_balance
            THEN 'lines_do_not_sum_to_closing'
            ELSE 'opening_differs_from_previous_closing' END AS reason
FROM (
    SELECT b.*, COALESCE((SELECT sum(l.amount) FROM bank_statement_lines l WHERE l.statement_id = b.id), 0) AS lines_total,
           lag(b.closing_balance) OVER (PARTITION BY b.internal_account_id
                                        ORDER BY b.statement_date, b.change_seq, b.position, b.id)
               AS previous_closing
    FROM bank_statements b
) s
JOIN internal_accounts i ON i.id = s.internal_account_id
WHERE (CAST(:account AS TEXT) IS NULL OR i.name = :account OR i.id = :account)
  AND s.opening_balance IS NOT NULL
  AND (s.opening_balance + s.lines_total <> s.closing_balance
       OR (s.previous_closing IS NOT NULL AND s.previous_closing <> s.opening_balance))
ORDER BY i.name, s.statement_date
"""


def statement_breaks(conn: Connection, account: str | None = None) -> list[dict[str, Any]]:
    """Statements whose lines do not add up, or that do not follow on from the previous statement."""
    rows = conn.dicts(_STATEMENT_BREAKS, {"account": account})
    for row in rows:
        for key in ("opening_balance", "closing_balance", "lines_total", "previous_closing"):
            row[key] = None if row[key] is None else int(row[key])
    return rows
