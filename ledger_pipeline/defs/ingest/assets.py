"""The raw layer: files dropped in the landing folder, one sub-folder per source, through ``ingest``.

One step per source (``ingest_<source>``) writes its ``raw/<source>__<stream>`` assets: the ingest
package parses every file first, then lands the records in the append-only ``raw_records`` table, maps
them with the source's YAML rules and posts them through the core, all in ONE database transaction
(its guarantee: nothing half-written, a second run adds nothing). So the posting of mapped sources
happens here; the ``ledger/...`` assets downstream post the journal batches of ``entries/`` and carry
the ledger's numbers and the double-entry checks. Bank statements and payment orders are landed only
(reconciliation reads them).

The streams of each source are the ones its file parser produces (a file names its stream). Files stay
in the landing folder: landing them again adds nothing.
"""

from pathlib import Path

import dagster as dg

from ledger_pipeline.defs.resources import LandingFolderResource, LedgerStoreResource
from ledger_pipeline.ingest.pipeline import ingest
from ledger_pipeline.store_setup import initialize_store

#: source (a key of ``ingest.sources.SOURCES``) -> the streams its exported files land in
FILE_STREAMS: dict[str, tuple[str, ...]] = {
    "stripe": ("balance_transactions",),
    "adyen": ("settlement_details",),
    "bank": ("statement_lines", "statement_balances"),
    "events": ("events",),
    "payment_orders": ("payment_orders",),
}
IGNORED_NAMES = (".", "_")


def raw_key(source: str, stream: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"{source}__{stream}"])


def landed_files(landing: Path, source: str) -> list[Path]:
    folder = landing / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(IGNORED_NAMES))


def _ingest_asset(source: str, streams: tuple[str, ...]) -> dg.AssetsDefinition:
    @dg.multi_asset(
        specs=[dg.AssetSpec(raw_key(source, s), group_name="raw", kinds={"sql"},
                            description=f"Raw {source} {s} records (append-only, raw JSON, source id).")
               for s in streams],
        can_subset=False,
        name=f"ingest_{source}",
    )
    def ingest_source(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
                      landing: LandingFolderResource):
        store = ledger_store.store()
        initialize_store(store)
        files = landed_files(landing.folder(), source)
        result = ingest(store, source, files=files, files_base=landing.folder()) if files else None
        summary = result.as_dict() if result else {}
        if result:
            context.log.info(f"{source}: {len(files)} file(s), {result.landed} new record(s), "
                             f"{result.created} transaction(s) posted, {result.quarantined} quarantined")
        for stream in streams:
            yield dg.MaterializeResult(asset_key=raw_key(source, stream), metadata={
                "files": len(files),
                "records_read": (result.streams.get(stream, 0) if result else 0),
                "records_landed_this_run": summary.get("landed", 0),
                "transactions_posted_this_run": summary.get("created", 0),
                "quarantined_this_run": summary.get("quarantined", 0),
                "unmapped_this_run": summary.get("unmapped", 0),
                "refused_by_reason": dg.MetadataValue.json(summary.get("reason_counts", {})),
            })

    return ingest_source


@dg.definitions
def ingest_assets() -> dg.Definitions:
    return dg.Definitions(assets=[_ingest_asset(source, streams) for source, streams in FILE_STREAMS.items()])
