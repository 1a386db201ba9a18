"""One reconciliation run: ledger the eligible payment orders, compute the balance variances, match
transactions, refresh the exceptions list, and record the run. Idempotent: a second run on the same data
makes no new match and leaves variances and exceptions as they were.

This is the entry point for the CLI (``ledger-pipeline reconcile``) and for the Dagster assets and checks.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ledger_pipeline.ledger.errors import NotFoundError
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.progress import ProgressHook, no_progress
from ledger_pipeline.reconcile.matching import MatchSummary, match_transactions, prepare_scope
from ledger_pipeline.reconcile.payment_orders import (
    AutoLedgerResult,
    auto_ledger_payment_orders,
    refresh_payment_orders_from_landing,
)
from ledger_pipeline.reconcile.processors import (
    ProcessorBreak,
    list_processor_breaks,
    refresh_processor_items,
)
from ledger_pipeline.reconcile.variances import Variance, compute_variances, list_variances, statement_breaks

DEFAULT_WINDOW_DAYS = 3


@dataclass(frozen=True)
class ReconResult:
    run_id: str
    as_of: date
    window_days: int
    accounts: int
    matching: MatchSummary
    variances: list[Variance] = field(default_factory=list)
    statement_breaks: list[dict[str, Any]] = field(default_factory=list)
    payment_orders: AutoLedgerResult | None = None
    processor_breaks: list[ProcessorBreak] = field(default_factory=list)

    def breaches(self, tolerance: int = 0) -> list[Variance]:
        return [v for v in self.variances if abs(v.variance) > tolerance]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "as_of": self.as_of.isoformat(), "window_days": self.window_days,
            "accounts": self.accounts, "matching": self.matching.as_dict(),
            "variances": [v.as_dict() for v in self.variances],
            "nonzero_variances": sum(1 for v in self.variances if v.variance != 0),
            "statement_breaks": [{**b, "statement_date": str(b["statement_date"])} for b in self.statement_breaks],
            "payment_orders": self.payment_orders.as_dict() if self.payment_orders else None,
            "processor_breaks": [b.as_dict() for b in self.processor_breaks],
        }


def run_reconciliation(store: Store, *, account: str | None = None, as_of: date | None = None,
                       window_days: int = DEFAULT_WINDOW_DAYS, rematch: bool = False,
                       ledger_payment_orders: bool = True, actor: str = "reconcile",
                       progress: ProgressHook = no_progress) -> ReconResult:
    """Reconcile every internal account linked to a ledger account (or only ``account``: the internal
    account's name or id, or its ledger account's name). ``as_of`` (default: today, UTC) only sets the
    age of unmatched items. Processor breaks (Stripe payouts, Adyen batches) are refreshed from the landed
    records and listed too. Everything happens in one database transaction. ``progress`` hears each phase
    as it ends: ``payment orders``, ``variances``, ``matching``, ``processor breaks``."""
    as_of = as_of or datetime.now(UTC).date()
    run_id = str(uuid.uuid4())
    started = datetime.now(UTC)
    with store.transaction() as conn:
        auto = None
        if ledger_payment_orders:  # orders the connector landed first, so the ones dropped in a folder count too
            refresh_payment_orders_from_landing(conn)
            auto = auto_ledger_payment_orders(conn, actor=actor)
            progress("payment orders", {"created": auto.created, "transitioned": auto.transitioned})
        seq = conn.change_seq()
        now = datetime.now(UTC)
        accounts = prepare_scope(conn, account)
        if account and not accounts:
            raise NotFoundError(f"no internal account {account!r} linked to a ledger account")
        conn.execute(
            "INSERT INTO recon_runs (id, started_at, finished_at, as_of, window_days, account_filter, summary, change_seq) "
            "VALUES (:id, :started, NULL, :as_of, :window, :account, '{}', :seq)",
            {"id": run_id, "started": started, "as_of": as_of, "window": window_days, "account": account, "seq": seq})
        compute_variances(conn, run_id=run_id, seq=seq, now=now)
        progress("variances", {"accounts": accounts})
        matching = match_transactions(conn, run_id=run_id, as_of=as_of, window_days=window_days, seq=seq, now=now,
                                      rematch=rematch)
        progress("matching", {"matches": sum(matching.matches_by_rule.values()),
                              "unmatched": matching.bank_unmatched + matching.ledger_unmatched})
        variances = list_variances(conn, account=account)
        breaks = statement_breaks(conn, account)
        refresh_processor_items(conn)
        progress("processor breaks", {})
        result = ReconResult(run_id=run_id, as_of=as_of, window_days=window_days, accounts=accounts,
                             matching=matching, variances=variances, statement_breaks=breaks, payment_orders=auto,
                             processor_breaks=list_processor_breaks(conn))
        summary = {k: v for k, v in result.as_dict().items()
                   if k not in ("variances", "statement_breaks", "processor_breaks")}
        summary["processor_breaks"] = len(result.processor_breaks)
        conn.execute(
            "UPDATE recon_runs SET finished_at = :finished, summary = :summary WHERE id = :id",
            {"finished": datetime.now(UTC), "summary": json.dumps(summary, sort_keys=True, default=str), "id": run_id})
    return result


def variance_breaches(store: Store, tolerance: int = 0, *, account: str | None = None,
                      latest_only: bool = False) -> list[Variance]:
    """Stored variances whose absolute value exceeds ``tolerance`` (minor units): what the asset check fails on.
    ``latest_only`` keeps only each account's most recent statement date."""
    with store.connect(read_only=True) as conn:
        return list_variances(conn, account=account, tolerance=tolerance, latest_only=latest_only)
