"""The ledger layer: proposed transactions validated by the double-entry rules and posted, or quarantined.

One step writes four tables in one database transaction per batch (the core's ``post_batch``), so they are
one multi-asset: ``ledger/ledger_transactions``, ``ledger/ledger_entries``, ``ledger/ledger_account_balances``
and ``ledger/quarantine``. What it posts:

* batches of entries in the core's own format (CSV or Parquet, as ``ledger-pipeline post`` reads) dropped in
  the landing folder's ``entries/`` sub-folder — a hand-made adjustment, an export of another ledger;
* records landed by the ingest layer (``raw/...``), mapped by its YAML rules (see ``defs/ingest``).

Posting is idempotent (the same transaction again is a no-op), so a file is simply read again on the next
run; it is moved to ``entries/posted/`` once its batch has gone through. The metadata is what the UI
shows: rows and sums, and quarantine counts per reason code.
"""


import shutil
from pathlib import Path

import dagster as dg

from ledger_pipeline.defs.ingest.assets import raw_asset_keys
from ledger_pipeline.defs.ledger.metrics import ledger_table_metadata
from ledger_pipeline.defs.resources import (
    LandingFolderResource,
    LedgerStoreResource,
    PipelineSettings,
    pipeline_settings,
)
from ledger_pipeline.ledger.batch_input import file_sha256
from ledger_pipeline.ledger.posting import BatchResult, post_batch_file
from ledger_pipeline.store_setup import initialize_store

LEDGER_TABLES = ("ledger_transactions", "ledger_entries", "ledger_account_balances", "quarantine")
ENTRY_BATCH_FOLDER = "entries"
ENTRY_BATCH_SUFFIXES = (".csv", ".parquet", ".pq")

_DESCRIPTIONS = {
    "ledger_transactions": "Posted and pending ledger transactions (immutable once posted).",
    "ledger_entries": "Ledger entries: exact integer amounts of minor units, debit or credit.",
    "ledger_account_balances": "Posted, pending and available balances per account, moved with the entries.",
    "quarantine": "Proposed transactions refused by a double-entry rule, with reason code and raw rows.",
}


def ledger_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["ledger", table])


def entry_batch_files(landing: Path) -> list[Path]:
    folder = landing / ENTRY_BATCH_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ENTRY_BATCH_SUFFIXES)


def post_entry_batches(store, files: list[Path]) -> list[tuple[Path, BatchResult]]:
    results = []
    for path in files:
        results.append((path, post_batch_file(store, path, source=f"file:{path.name}", actor="dagster",
                                              request_hash=file_sha256(path))))
    return results


def _archive(path: Path) -> None:
    done = path.parent / "posted"
    done.mkdir(exist_ok=True)
    shutil.move(str(path), done / path.name)


def batch_summary(results: list[BatchResult]) -> dict[str, int | dict[str, int]]:
    reasons: dict[str, int] = {}
    for result in results:
        for code, n in result.reason_counts.items():
            reasons[code] = reasons.get(code, 0) + n
    return {
        "batches": len(results),
        "transactions_in": sum(r.transactions_in for r in results),
        "entries_in": sum(r.entries_in for r in results),
        "created": sum(r.created for r in results),
        "transitioned": sum(r.transitioned for r in results),
        "duplicates": sum(r.duplicates for r in results),
        "quarantined": sum(r.quarantined for r in results),
        "entries_posted": sum(r.entries_posted for r in results),
        "refused_by_reason": reasons,
    }


def build_ledger_posting(settings: PipelineSettings) -> dg.AssetsDefinition:
    """The ledger multi-asset, downstream of every raw asset of the sources that are switched on (their
    steps post what they land, so the graph reads raw -> ledger -> warehouse -> reporting)."""

    @dg.multi_asset(
        specs=[dg.AssetSpec(ledger_key(t), group_name="ledger", description=_DESCRIPTIONS[t],
                            kinds={settings.store_kind()}, owners=list(settings.owners),
                            deps=raw_asset_keys(settings.sources))
               for t in LEDGER_TABLES],
        can_subset=False,
        name="post_entry_batches",
    )
    def ledger_posting(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
                       landing: LandingFolderResource):
        """Post the entry batches waiting in the landing folder; refused transactions go to quarantine."""
        store = ledger_store.store()
        initialize_store(store)
        files = entry_batch_files(landing.folder())
        posted = post_entry_batches(store, files)
        for path, result in posted:
            context.log.info(f"{path.name}: {result.created} created, {result.quarantined} quarantined "
                             f"{result.reason_counts or ''}")
            _archive(path)
        summary = batch_summary([r for _, r in posted])
        for table, metadata in ledger_table_metadata(store, this_run=summary).items():
            yield dg.MaterializeResult(asset_key=ledger_key(table), metadata=metadata)

    return ledger_posting


@dg.definitions
def ledger_assets() -> dg.Definitions:
    return dg.Definitions(assets=[build_ledger_posting(pipeline_settings())])
