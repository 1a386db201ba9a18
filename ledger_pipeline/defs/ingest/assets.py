"""The raw layer: every source of the registry (``ingest.sources.SOURCES``) that is switched on
(``defs/ingest/config.py``), through its API and/or the files dropped in the landing folder.

One step per source (``ingest_<source>``) writes its ``raw/<source>__<stream>`` assets, so one source that
fails (an API down, a bad file) fails only its own step and the others of the same run or tick go on; the
step's failure names the source, the stream and the error. What a step does:

* API mode: each stream in turn, from the cursor kept in the store (``connector_cursors``). Landing,
  mapping, posting and the cursor move of a stream are ONE database transaction (``ingest.pipeline``), so
  a run that dies after landing and before the cursor commit leaves neither behind, and the next run
  pulls the same records again: none landed twice, none skipped.
* File mode: the files of ``<landing>/<source>/``, all parsed first, then landed, mapped and posted in one
  transaction. Files stay in the landing folder: landing them again adds nothing.

So the posting of mapped sources happens here; the ``ledger/...`` assets downstream (which depend on every
raw asset) post the journal batches of ``entries/`` and carry the ledger's numbers and the double-entry
checks. Bank statements and payment orders are landed only (reconciliation reads them).

Streams: a source's API streams (from the registry), plus the streams its file parser produces under other
names (``FILE_STREAMS``: the parsers' own streams are not in the registry).
"""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from ledger_pipeline.defs.ingest.config import SourceSettings, active_sources
from ledger_pipeline.defs.resources import LandingFolderResource, LedgerStoreResource, pipeline_settings
from ledger_pipeline.ingest.pipeline import IngestResult, ingest
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store

#: streams that file parsers produce besides the API streams (the registry names API streams only); a
#: parser that writes records of a stream with no asset of its own (QuickBooks' ``invoice`` records of a
#: recorded query response) is counted in the source's totals
FILE_STREAMS: dict[str, tuple[str, ...]] = {
    "stripe": ("balance_report", "payout_reconciliation_report"),
    "adyen": ("settlement_details", "payments_accounting", "notifications"),
    "bank": ("statement_lines", "statement_balances"),
    "events": ("events",),
    "payment_orders": ("payment_orders",),
}
IGNORED_NAMES = (".", "_")


def raw_key(source: str, stream: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"{source}__{stream}"])


def source_streams(settings: SourceSettings) -> tuple[str, ...]:
    """The streams of ``raw/<source>__<stream>`` assets of one source, in a stable order."""
    streams: list[str] = list(settings.api_stream_names()) if settings.api_on() else []
    if settings.files_on():
        streams += list(settings.spec.api_streams) + list(FILE_STREAMS.get(settings.name, ()))
    return tuple(dict.fromkeys(streams))


def raw_asset_keys(sources: Mapping[str, SourceSettings]) -> list[dg.AssetKey]:
    """Every raw asset of the sources that are switched on (what the ledger depends on)."""
    return [raw_key(s.name, stream) for s in active_sources(sources) for stream in source_streams(s)]


def landed_files(landing: Path, source: str) -> list[Path]:
    folder = landing / source
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(IGNORED_NAMES))


def _stored_counts(store: Store, source: str) -> dict[str, int]:
    with store.connect(read_only=True) as conn:
        rows = conn.all("SELECT stream, count(*) FROM raw_records WHERE source = :s GROUP BY stream", {"s": source})
    return {stream: int(n) for stream, n in rows}


def _modes(settings: SourceSettings) -> str:
    return " and ".join(m for m, on in (("API pull", settings.api_on()), ("landing-folder files",
                                                                          settings.files_on())) if on)


def _description(settings: SourceSettings, stream: str) -> str:
    spec = settings.spec
    return (f"Raw {spec.name} `{stream}` records, append-only (raw JSON, source object id, content hash), "
            f"from {_modes(settings)}. Mapped records are posted to the ledger in the same transaction. "
            f"{spec.description}.")


def pull_api(store: Store, settings: SourceSettings, log) -> list[IngestResult]:
    """Each API stream of one source from its stored cursor; a failing stream raises naming source and stream
    (the streams before it stay committed with their cursors)."""
    spec = settings.spec
    client = spec.client_fn()(settings.api_base_url())
    results = []
    try:
        for stream in settings.api_stream_names():
            try:
                result = ingest(store, spec.name, api=True, client=client, streams=[stream])
            except Exception as exc:
                raise dg.Failure(description=f"{spec.name} API stream {stream}: {type(exc).__name__}: {exc}",
                                 metadata={"source": spec.name, "stream": stream}) from exc
            log.info(f"{spec.name} {stream}: {result.records_in} record(s) read, {result.landed} new, "
                     f"{result.created} transaction(s) posted, cursor {result.cursors.get(stream)!r}")
            results.append(result)
    finally:
        client.close()
    return results


def read_files(store: Store, settings: SourceSettings, landing: Path, log) -> IngestResult | None:
    files = landed_files(landing, settings.name)
    if not files:
        return None
    try:
        result = ingest(store, settings.name, files=files, files_base=landing)
    except Exception as exc:
        raise dg.Failure(description=f"{settings.name} files in {landing / settings.name}: "
                                     f"{type(exc).__name__}: {exc}", metadata={"source": settings.name}) from exc
    log.info(f"{settings.name}: {len(files)} file(s), {result.landed} new record(s), {result.created} "
             f"transaction(s) posted, {result.quarantined} quarantined")
    return result


def build_ingest_asset(settings: SourceSettings, *, owners: tuple[str, ...], store_kind: str) -> dg.AssetsDefinition:
    source, streams = settings.name, source_streams(settings)

    @dg.multi_asset(
        specs=[dg.AssetSpec(raw_key(source, s), group_name="raw", kinds={source, store_kind}, owners=list(owners),
                            description=_description(settings, s), tags={"ledger/source": source})
               for s in streams],
        can_subset=False,
        name=f"ingest_{source}",
        description=f"Ingest {source} ({_modes(settings)}): land, map and post.",
    )
    def ingest_source(context: dg.AssetExecutionContext, ledger_store: LedgerStoreResource,
                      landing: LandingFolderResource):
        store = ledger_store.store()
        initialize_store(store)
        # records read and landed per asset stream: an API stream's own counts, plus the file records of
        # that stream (a parser names the stream of each record it reads)
        read: dict[str, int] = {}
        new: dict[str, int] = {}
        results = pull_api(store, settings, context.log) if settings.api_on() else []
        for stream, result in zip(settings.api_stream_names() if settings.api_on() else (), results, strict=True):
            read[stream], new[stream] = result.records_in, result.landed
        if settings.files_on() and landed_files(landing.folder(), source):  # no files: nothing to count
            before = _stored_counts(store, source)
            files_result = read_files(store, settings, landing.folder(), context.log)
            if files_result is not None:
                results.append(files_result)
                after = _stored_counts(store, source)
                for stream in streams:
                    read[stream] = read.get(stream, 0) + files_result.streams.get(stream, 0)
                    new[stream] = new.get(stream, 0) + after.get(stream, 0) - before.get(stream, 0)
        reasons: dict[str, int] = {}
        for result in results:
            for code, n in result.reason_counts.items():
                reasons[code] = reasons.get(code, 0) + n
        for stream in streams:
            yield dg.MaterializeResult(asset_key=raw_key(source, stream), metadata={
                "records_read": read.get(stream, 0),
                "records_landed_this_run": new.get(stream, 0),
                "source_records_landed_this_run": sum(r.landed for r in results),
                "transactions_posted_this_run": sum(r.created for r in results),
                "quarantined_this_run": sum(r.quarantined for r in results),
                "unmapped_this_run": sum(r.unmapped for r in results),
                "refused_by_reason": dg.MetadataValue.json(reasons),
                "cursor": next((r.cursors[stream] for r in results if r.cursors.get(stream)), None) or "",
            })

    return ingest_source


@dg.definitions
def ingest_assets() -> dg.Definitions:
    settings = pipeline_settings()
    return dg.Definitions(assets=[build_ingest_asset(s, owners=settings.owners, store_kind=settings.store_kind())
                                  for s in active_sources(settings.sources)])
