"""The statements that apply a classified batch (``staging.py``): insert the created transactions and
their entries, apply transitions, move balances, and quarantine the refused with their raw rows."""

from __future__ import annotations

import functools

from ledger_pipeline.ledger.staging import RAW_COLUMNS, record_ref_sql
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.ledger.violations import REASON_CODES

INSERT_TRANSACTIONS = """
INSERT INTO ledger_transactions (id, ledger_id, external_id, status, description, effective_at, posted_at,
    archived_at, created_at, updated_at, source, ledgerable_type, ledgerable_id, reverses_id, metadata,
    payload_hash, batch_id, version, change_seq)
SELECT new_id, ledger_id, external_id, status, description, effective_at,
       CASE WHEN status = 'posted' THEN CAST(:now AS TIMESTAMPTZ) END, NULL,
       CAST(:now AS TIMESTAMPTZ), CAST(:now AS TIMESTAMPTZ), COALESCE(source, :source), ledgerable_type,
       ledgerable_id, reverses_tx_id, metadata, payload_hash, :batch_id, 1, :seq
FROM batch_txs WHERE action = 'create'
"""

_INSERT_ENTRIES = """
INSERT INTO ledger_entries (id, ledger_transaction_id, ledger_account_id, direction, amount, currency, status,
    effective_at, created_at, change_seq)
SELECT __NEW_ENTRY_ID__, t.new_id, e.ledger_account_id, e.direction, e.amount, e.currency,
       t.status, t.effective_at, CAST(:now AS TIMESTAMPTZ), :seq
FROM batch_entries e JOIN batch_txs t ON t.tx_key = e.tx_key
WHERE t.action = 'create'
"""



def insert_entries_sql(conn: Connection) -> str:
    """New entries of the created transactions, with time-ordered ids (``ids.py``) numbered by line."""
    return _INSERT_ENTRIES.replace("__NEW_ENTRY_ID__", conn.engine.id_sql("entry_id_prefix", "e.line"))


TRANSITION_TRANSACTIONS = """
UPDATE ledger_transactions SET status = b.status,
    posted_at = CASE WHEN b.status = 'posted' THEN CAST(:now AS TIMESTAMPTZ) END,
    archived_at = CASE WHEN b.status = 'archived' THEN CAST(:now AS TIMESTAMPTZ) END,
    updated_at = CAST(:now AS TIMESTAMPTZ), version = ledger_transactions.version + 1, change_seq = :seq
FROM batch_txs b
WHERE b.action = 'transition' AND ledger_transactions.id = b.existing_id AND ledger_transactions.status = 'pending'
"""

TRANSITION_ENTRIES = """
UPDATE ledger_entries SET status = b.status, change_seq = :seq
FROM batch_txs b
WHERE b.action = 'transition' AND ledger_entries.ledger_transaction_id = b.existing_id
"""

# Balances move in the same database transaction as the entries: new entries add to pending (and to
# posted when posted); a pending -> posted transition adds to posted; pending -> archived removes from pending.
# A created transaction's entries all carry its status (rows that disagree are refused by rule 1), so its
# entries are those of no transaction with another action: an anti join against those few, rather than a
# join of every staged entry to its transaction.
_NEW_ENTRY_MOVES = """
        SELECT e.ledger_account_id AS account_id,
            CASE WHEN e.status = 'posted' AND e.direction = 'debit' THEN e.amount ELSE 0 END AS pd,
            CASE WHEN e.status = 'posted' AND e.direction = 'credit' THEN e.amount ELSE 0 END AS pc,
            CASE WHEN e.direction = 'debit' THEN e.amount ELSE 0 END AS qd,
            CASE WHEN e.direction = 'credit' THEN e.amount ELSE 0 END AS qc
        FROM batch_entries e
        WHERE NOT EXISTS (SELECT 1 FROM batch_txs t WHERE t.tx_key = e.tx_key AND t.action <> 'create')"""

_TRANSITION_MOVES = """
        SELECT le.ledger_account_id AS account_id,
            CASE WHEN b.status = 'posted' AND le.direction = 'debit' THEN le.amount ELSE 0 END AS pd,
            CASE WHEN b.status = 'posted' AND le.direction = 'credit' THEN le.amount ELSE 0 END AS pc,
            CASE WHEN b.status = 'archived' AND le.direction = 'debit' THEN -le.amount ELSE 0 END AS qd,
            CASE WHEN b.status = 'archived' AND le.direction = 'credit' THEN -le.amount ELSE 0 END AS qc
        FROM ledger_entries le JOIN batch_txs b ON b.existing_id = le.ledger_transaction_id
        WHERE b.action = 'transition'"""


@functools.lru_cache(maxsize=3)
def update_balances_sql(created: bool, transitioned: bool) -> str:
    """Move the touched accounts' balances by the batch's new entries and/or its transitions.

    Only the parts that have rows are read: on DuckDB (no index on ``ledger_entries``) the transitions'
    part scans every stored entry even when the batch has no transition (0.56 s of a million-transaction
    post into an empty store, and growing with the store)."""
    parts = [sql for sql, wanted in ((_NEW_ENTRY_MOVES, created), (_TRANSITION_MOVES, transitioned)) if wanted]
    if not parts:
        raise ValueError("update_balances_sql needs new entries or transitions")
    moves = "\n        UNION ALL".join(parts)
    return f"""
UPDATE ledger_account_balances SET
    posted_debits = posted_debits + d.pd, posted_credits = posted_credits + d.pc,
    pending_debits = pending_debits + d.qd, pending_credits = pending_credits + d.qc,
    lock_version = lock_version + 1, updated_at = CAST(:now AS TIMESTAMPTZ), change_seq = :seq
FROM (
    SELECT account_id, sum(pd) AS pd, sum(pc) AS pc, sum(qd) AS qd, sum(qc) AS qc FROM ({moves}
    ) u GROUP BY account_id
) d
WHERE ledger_account_balances.ledger_account_id = d.account_id
"""


def _reason_rank_sql() -> str:
    whens = " ".join(f"WHEN '{code}' THEN {i}" for i, code in enumerate(REASON_CODES))
    return f"CASE reason_code {whens} ELSE 999 END"


def _raw_payload_sql(conn: Connection) -> str:
    """A JSON array of the raw input rows of each transaction, exactly as given (for quarantine/replay)."""
    columns = ("line", "record_ref", *RAW_COLUMNS)
    pairs = ", ".join(
        f"'{c}', COALESCE(r.effective_at, CAST(r.effective_at_ts AS TEXT))" if c == "effective_at"
        else f"'{c}', {record_ref_sql('r')}" if c == "record_ref" else f"'{c}', r.{c}"
        for c in columns
    )
    return conn.engine.json_rows_agg(pairs, "r.line")


def quarantine_rejected_sql(conn: Connection) -> str:
    """New quarantine rows for refused transactions (those not already in quarantine, i.e. not a replay).

    ``reason_code`` is the first broken rule in the order of ``REASON_CODES``; ``reason`` lists every violation;
    ``record_ref`` locates the transaction's first input line. A refused payload that is already open in
    quarantine with the same raw rows (the same file posted again) is not added twice, so re-running a
    batch changes nothing.
    """
    return f"""
INSERT INTO quarantine (id, batch_id, source, ledger_name, external_id, reason_code, reason, record_ref,
    raw_payload, status, attempts, created_at, change_seq)
SELECT CAST(gen_random_uuid() AS TEXT), :batch_id, COALESCE(t.source, :source), t.ledger_name, t.external_id,
       v.reason_code, v.reason, p.first_ref, p.payload, 'open', 1,
       CAST(:now AS TIMESTAMPTZ), :seq
FROM batch_txs t
JOIN ({violation_summary_sql()}) v ON v.tx_key = t.tx_key
JOIN (
    SELECT e.tx_key, {_raw_payload_sql(conn)} AS payload,
           min(CASE WHEN e.line = f.first_line THEN {record_ref_sql('e')} END) AS first_ref
    FROM batch_entries e JOIN stage_raw r ON r.line = e.line
    JOIN batch_txs f ON f.tx_key = e.tx_key AND f.action = 'reject' AND f.quarantine_id IS NULL
    GROUP BY e.tx_key
) p ON p.tx_key = t.tx_key
WHERE t.action = 'reject' AND t.quarantine_id IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM quarantine q
      WHERE q.status = 'open' AND q.raw_payload = p.payload
        AND COALESCE(q.ledger_name, '') = COALESCE(t.ledger_name, '')
  )
"""


def violation_summary_sql() -> str:
    """One row per refused transaction: its first reason code and every violation's detail."""
    return f"""
SELECT tx_key, max(CASE WHEN rn = 1 THEN reason_code END) AS reason_code,
       string_agg(detail, '; ' ORDER BY rn) AS reason
FROM (
    SELECT tx_key, reason_code, reason_code || ': ' || detail AS detail,
           row_number() OVER (PARTITION BY tx_key ORDER BY {_reason_rank_sql()}, line, detail) AS rn
    FROM batch_violations
) ranked
GROUP BY tx_key
"""


UPDATE_REPLAYED_QUARANTINE = """
UPDATE quarantine SET status = 'replayed', resolved_at = CAST(:now AS TIMESTAMPTZ),
    resolution = 'replayed in batch ' || :batch_id || ' (' || b.action || ')', attempts = attempts + 1,
    change_seq = :seq
FROM batch_txs b
WHERE b.quarantine_id = quarantine.id AND b.action IN ('create', 'transition', 'noop')
"""


def update_still_rejected_sql() -> str:
    return f"""
UPDATE quarantine SET attempts = attempts + 1, reason_code = v.reason_code, reason = v.reason,
    change_seq = :seq
FROM batch_txs b JOIN ({violation_summary_sql()}) v ON v.tx_key = b.tx_key
WHERE b.quarantine_id = quarantine.id AND b.action = 'reject'
"""
