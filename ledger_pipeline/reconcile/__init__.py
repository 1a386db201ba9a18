"""Reconciliation: ledger vs bank statements and processor payouts; default ledgering of payment orders.

The functions the orchestration layer calls (see docs/reconciliation.md)."""

from ledger_pipeline.reconcile.matching import MatchSummary
from ledger_pipeline.reconcile.payment_orders import (
    AutoLedgerResult,
    auto_ledger_payment_orders,
    upsert_payment_orders,
)
from ledger_pipeline.reconcile.processors import ProcessorBreak, processor_breaks
from ledger_pipeline.reconcile.runner import (
    DEFAULT_WINDOW_DAYS,
    ReconResult,
    run_reconciliation,
    variance_breaches,
)
from ledger_pipeline.reconcile.variances import Variance

__all__ = [
    "DEFAULT_WINDOW_DAYS", "AutoLedgerResult", "MatchSummary", "ProcessorBreak", "ReconResult", "Variance",
    "auto_ledger_payment_orders", "processor_breaks", "run_reconciliation", "upsert_payment_orders",
    "variance_breaches",
]
