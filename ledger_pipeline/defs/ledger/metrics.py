"""The numbers the ledger assets attach to their materializations (row counts, sums, quarantine counts)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ledger_pipeline.ledger.invariants import trial_balance
from ledger_pipeline.ledger.quarantine import quarantine_counts
from ledger_pipeline.ledger.store import Connection, Store, quote_identifier
from ledger_pipeline.ledger.violations import REASON_CODES


def row_count(conn: Connection, table: str) -> int:
    return int(conn.scalar(f"SELECT count(*) FROM {quote_identifier(table)}") or 0)


def status_counts(conn: Connection) -> dict[str, int]:
    return {status: int(n) for status, n in conn.all(
        "SELECT status, count(*) FROM ledger_transactions GROUP BY status ORDER BY status")}


def posted_sums_by_currency(conn: Connection) -> dict[str, int]:
    """Total posted debits per ledger/currency (equal to credits while the trial balance holds)."""
    return {f"{r['ledger']}/{r['currency']}": r["posted_debits"] for r in trial_balance(conn)}


def open_quarantine_by_reason(conn: Connection) -> dict[str, int]:
    """Every reason code of the rule registry with its open quarantine count (zeros included)."""
    counts = quarantine_counts(conn)
    return {code: counts.get(code, 0) for code in sorted(set(REASON_CODES) | set(counts))}


def ledger_table_metadata(store: Store, this_run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    with store.connect(read_only=True) as conn:
        statuses = status_counts(conn)
        sums = posted_sums_by_currency(conn)
        quarantine = open_quarantine_by_reason(conn)
        counts = {t: row_count(conn, t) for t in
                  ("ledger_transactions", "ledger_entries", "ledger_account_balances", "quarantine")}
    return {
        "ledger_transactions": {
            "dagster/row_count": counts["ledger_transactions"],
            "by_status": dg.MetadataValue.json(statuses),
            "created_this_run": this_run.get("created", 0),
            "transitioned_this_run": this_run.get("transitioned", 0),
            "duplicates_this_run": this_run.get("duplicates", 0),
            "batches_this_run": this_run.get("batches", 0),
        },
        "ledger_entries": {
            "dagster/row_count": counts["ledger_entries"],
            "entries_posted_this_run": this_run.get("entries_posted", 0),
            "entry_batch_lines_this_run": this_run.get("entries_in", 0),
            "posted_debits_by_currency": dg.MetadataValue.json(sums),
        },
        "ledger_account_balances": {
            "dagster/row_count": counts["ledger_account_balances"],
        },
        "quarantine": {
            "dagster/row_count": counts["quarantine"],
            "open_items": sum(quarantine.values()),
            "quarantined_this_run": this_run.get("quarantined", 0),
            "refused_this_run_by_reason": dg.MetadataValue.json(this_run.get("refused_by_reason", {})),
            "open_by_reason": dg.MetadataValue.json(quarantine),
        },
    }
