"""The reconciliation layer (``ledger_pipeline.reconcile``): bank statements in, the ledger compared with them.

* ``recon/bank_statements``: the statement files of the landing folder's ``bank/`` sub-folder (BAI2,
  camt.053, OFX, CSV), attached to the internal account whose identifier they name. Loading the same
  statement again is a no-op, so files simply stay where they were dropped. Parser options per file come
  from ``bank/options.yaml``: file-name patterns to the options ``parse bank -o`` takes (the first pattern
  that matches wins), e.g. ``"acme_*.csv": {date: Date, amount: Amount, currency_code: EUR}`` for a CSV
  statement's column mapping, or ``"svb_2024-06-03.bai2": {verify: false}`` to take a file whose own
  controls fail; its statements are then flagged (``bank_statements.control_warning``).
* ``recon/recon_runs``, ``recon/recon_balance_variances``, ``recon/recon_matches``,
  ``recon/recon_match_items``, ``recon/recon_unmatched``: one ``run_reconciliation`` (default ledgering of
  payment orders, balance variances per linked account and statement date, transaction matching by
  reference, amount and date, one-to-many), in one database transaction.

Checks: ``variance_within_tolerance`` fails when a linked account's ledger balance differs from the
bank's closing balance by more than the configured tolerance. It is not blocking: a variance is a finding
to investigate, and the warehouse sync must still carry it to the reports that show it.
"""

import fnmatch
from pathlib import Path

import dagster as dg
import yaml

from ledger_pipeline.defs.resources import LandingFolderResource, LedgerStoreResource, ReconciliationSettings
from ledger_pipeline.reconcile import processor_breaks, run_reconciliation, variance_breaches
from ledger_pipeline.reconcile.statements import load_statement_file
from ledger_pipeline.store_setup import initialize_store

BANK_FOLDER = "bank"
#: in the bank folder: file-name patterns mapped to parser options
OPTIONS_FILE = "options.yaml"
STATEMENT_SUFFIXES = (".bai", ".bai2", ".txt", ".xml", ".ofx", ".qfx", ".csv")
RECON_TABLES = ("recon_runs", "recon_balance_variances", "recon_matches", "recon_match_items", "recon_unmatched")
_RECON_DESCRIPTIONS = {
    "recon_runs": "One row per reconciliation run: when, as of which date, match window, accounts, summary.",
    "recon_balance_variances": "Ledger balance against the bank's closing balance per linked account and date.",
    "recon_matches": "Bank lines matched to ledger transactions, with the rule that matched them.",
    "recon_match_items": "The bank and ledger items of each match (one-to-many matches), with date and amount.",
    "recon_unmatched": "Bank lines and ledger items left without a match, with the reason.",
}
#: what reconciliation reads from the ledger; depending on all three puts it behind their blocking checks
LEDGER_INPUTS = [dg.AssetKey(["ledger", t]) for t in ("ledger_transactions", "ledger_entries", "ledger_account_balances")]
BANK_STATEMENTS = dg.AssetKey(["recon", "bank_statements"])


def recon_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["recon", table])


def statement_options(landing: Path) -> list[tuple[str, dict]]:
    """``bank/options.yaml``: (file-name pattern, parser options), in file order."""
    path = landing / BANK_FOLDER / OPTIONS_FILE
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected file-name patterns mapped to parser options")
    return [(str(pattern), dict(options)) for pattern, options in data.items()]


def options_for(path: Path, patterns: list[tuple[str, dict]]) -> dict:
    return next((dict(options) for pattern, options in patterns if fnmatch.fnmatch(path.name, pattern)), {})


def statement_files(landing: Path) -> list[Path]:
    folder = landing / BANK_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in STATEMENT_SUFFIXES)


@dg.asset(key=BANK_STATEMENTS, group_name="recon", kinds={"sql"},
          description="Bank statements and their lines, attached to internal accounts.")
def bank_statements(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
                    landing: LandingFolderResource) -> dg.MaterializeResult:
    store = ledger_store.store()
    initialize_store(store)
    loaded = skipped = lines = 0
    flagged: list[str] = []
    patterns = statement_options(landing.folder())
    for path in statement_files(landing.folder()):
        with store.transaction() as conn:
            result = load_statement_file(conn, str(path), actor="dagster", options=options_for(path, patterns))
        context.log.info(f"{path.name}: {result.statements_loaded} statement(s), {result.lines_loaded} line(s)")
        for warning in result.warnings:
            context.log.warning(f"{path.name}: taken with a failed control (statements flagged): {warning}")
        if result.warnings and result.statements_loaded:
            flagged.append(path.name)
        loaded, skipped, lines = loaded + result.statements_loaded, skipped + result.statements_skipped, lines + result.lines_loaded
    with store.connect(read_only=True) as conn:
        total = int(conn.scalar("SELECT count(*) FROM bank_statements") or 0)
        total_lines = int(conn.scalar("SELECT count(*) FROM bank_statement_lines") or 0)
    return dg.MaterializeResult(metadata={
        "dagster/row_count": total, "statement_lines": total_lines, "statements_loaded_this_run": loaded,
        "statements_already_loaded": skipped, "lines_loaded_this_run": lines,
        "files_flagged_this_run": dg.MetadataValue.json(flagged)})


@dg.multi_asset(
    specs=[dg.AssetSpec(recon_key(t), group_name="recon", kinds={"sql"}, deps=[BANK_STATEMENTS, *LEDGER_INPUTS],
                        description=_RECON_DESCRIPTIONS[t])
           for t in RECON_TABLES],
    can_subset=False,
    name="reconcile",
)
def reconcile(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
              reconciliation: ReconciliationSettings):
    """Reconcile every internal account linked to a ledger account."""
    result = run_reconciliation(ledger_store.store(), window_days=reconciliation.match_window_days, actor="dagster")
    summary = result.as_dict()
    matching = summary["matching"]
    orders = summary.get("payment_orders") or {}
    per_table = {
        "recon_runs": {"run_id": result.run_id, "accounts_reconciled": result.accounts,
                       "payment_orders_ledgered": dg.MetadataValue.json(orders)},
        "recon_balance_variances": {"variances": len(result.variances),
                                    "nonzero_variances": summary["nonzero_variances"],
                                    "statement_breaks": len(result.statement_breaks)},
        "recon_matches": {"matches_by_rule": dg.MetadataValue.json(matching["matches_by_rule"]),
                          "bank_lines_matched_this_run": matching["bank_matched"],
                          "ledger_items_matched_this_run": matching["ledger_matched"]},
        "recon_match_items": {"bank_lines_matched_this_run": matching["bank_matched"]},
        "recon_unmatched": {"bank_unmatched": matching["bank_unmatched"],
                            "ledger_unmatched": matching["ledger_unmatched"],
                            "resolved_this_run": matching["resolved"]},
    }
    for table in RECON_TABLES:
        yield dg.MaterializeResult(asset_key=recon_key(table), metadata=per_table[table])


@dg.asset_check(asset=recon_key("recon_balance_variances"), blocking=False,
                description="Every linked account's ledger balance is within tolerance of the bank's closing balance.")
def variance_within_tolerance(ledger_store: LedgerStoreResource,
                              reconciliation: ReconciliationSettings) -> dg.AssetCheckResult:
    tolerance = reconciliation.variance_tolerance_minor
    breaches = variance_breaches(ledger_store.store(), tolerance=tolerance)
    return dg.AssetCheckResult(
        passed=not breaches,
        metadata={"tolerance_minor": tolerance, "breaches": len(breaches),
                  "details": dg.MetadataValue.json([b.as_dict() for b in breaches[:20]])},
    )


PROCESSOR_ITEMS = dg.AssetKey(["recon", "processor_settlement_items"])
PROCESSOR_INPUTS = [dg.AssetKey(["raw", "stripe__balance_transactions"]), dg.AssetKey(["raw", "adyen__settlement_details"])]


@dg.asset(key=PROCESSOR_ITEMS, group_name="recon", kinds={"sql"}, deps=[*PROCESSOR_INPUTS, *LEDGER_INPUTS],
          description="Processor settlements (Stripe payouts, Adyen batches) and the items they settle, "
                      "from the landed records.")
def processor_settlement_items(ledger_store: LedgerStoreResource) -> dg.MaterializeResult:
    breaks = processor_breaks(ledger_store.store(), refresh=True)
    with ledger_store.store().connect(read_only=True) as conn:
        rows = int(conn.scalar("SELECT count(*) FROM processor_settlement_items") or 0)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "breaks": len(breaks),
                                          "breaks_by_reason": dg.MetadataValue.json(
                                              {r: sum(1 for b in breaks if b.reason == r) for r in {b.reason for b in breaks}})})


@dg.asset_check(asset=PROCESSOR_ITEMS, blocking=False,
                description="Each Stripe payout equals the sum of its balance transactions; each Adyen batch's net "
                            "equals its MerchantPayout.")
def processor_payouts_balanced(ledger_store: LedgerStoreResource) -> dg.AssetCheckResult:
    breaks = processor_breaks(ledger_store.store(), refresh=False)
    return dg.AssetCheckResult(passed=not breaks, metadata={
        "breaks": len(breaks), "details": dg.MetadataValue.json([b.as_dict() for b in breaks[:20]])})
