"""extract → land → map → post, for one source, idempotently.

* Files are parsed completely before the store is touched, so a file that fails to parse (a
  ``ParseError`` naming file and line) writes nothing.
* Landing, account creation, mapping, quarantine of unmapped records, posting and the cursor move happen
  in ONE database transaction per unit (all files of a run; one API stream), so a failure leaves nothing
  half-written and the cursor never runs ahead of what was posted.
* Only records that landed new in this run are mapped and posted; a second run over the same input lands
  nothing and posts nothing. A changed version of an object lands as a new row and is posted under the
  same ``external_id`` (``source:object_id``): a pending → posted move is a status transition, any other
  change is refused by the core as a conflict and quarantined.
* An API stream whose pull brings nothing new and leaves the cursor where it was writes nothing at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.common.records import ExtractResult, RawRecord, records_to_arrow
from ledger_pipeline.ingest import mapping as mapping_mod
from ledger_pipeline.ingest.landing import (
    as_records_table,
    commit_landing,
    plan_landing,
    read_cursor,
    save_cursor,
)
from ledger_pipeline.ingest.lifecycle import apply_lifecycle
from ledger_pipeline.ingest.mapping import MAP_INPUT_COLUMNS
from ledger_pipeline.ingest.mapping import Mapping as MappingRules
from ledger_pipeline.ingest.sources import SourceSpec, get_source
from ledger_pipeline.ledger import posting
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.categories import assign_categories
from ledger_pipeline.ledger.posting import BatchResult, PostRequest
from ledger_pipeline.ledger.store import Connection, Store
from ledger_pipeline.paths import relative_path
from ledger_pipeline.progress import ProgressHook, no_progress

INGEST_PAYLOAD_PREFIX = '{"ingest_record"'


@dataclass
class IngestResult:
    source: str
    records_in: int = 0
    landed: int = 0
    transactions_mapped: int = 0
    unmapped: int = 0
    ignored: int = 0
    zero_amount: int = 0
    created: int = 0
    transitioned: int = 0
    duplicates: int = 0
    quarantined: int = 0
    replayed: int = 0
    entries_posted: int = 0
    reason_counts: dict[str, int] = field(default_factory=dict)
    cursors: dict[str, str | None] = field(default_factory=dict)
    streams: dict[str, int] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)

    @property
    def duplicates_skipped(self) -> int:
        return self.records_in - self.landed

    def add_batch(self, batch: BatchResult) -> None:
        self.created += batch.created
        self.transitioned += batch.transitioned
        self.duplicates += batch.duplicates
        self.quarantined += batch.quarantined
        self.replayed += batch.replayed
        self.entries_posted += batch.entries_posted
        for code, n in batch.reason_counts.items():
            self.reason_counts[code] = self.reason_counts.get(code, 0) + n
        self.batches.append(batch.batch_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "records_in": self.records_in, "landed": self.landed,
            "duplicates_skipped": self.duplicates_skipped, "transactions_mapped": self.transactions_mapped,
            "unmapped": self.unmapped, "ignored": self.ignored, "zero_amount": self.zero_amount,
            "created": self.created, "transitioned": self.transitioned, "duplicates": self.duplicates,
            "quarantined": self.quarantined, "replayed": self.replayed, "entries_posted": self.entries_posted,
            "reason_counts": self.reason_counts, "cursors": self.cursors, "streams": self.streams,
            "batches": self.batches,
        }


def to_records_table(parsed: Any) -> pa.Table:
    """Whatever a parser or extractor returned, as a records table."""
    if isinstance(parsed, pa.Table):
        return as_records_table(parsed)
    if isinstance(parsed, ExtractResult):
        return records_to_arrow(parsed.records)
    if isinstance(parsed, Iterable):
        return records_to_arrow(list(parsed))
    raise TypeError(f"a parser returned {type(parsed).__name__}; expected records or an Arrow table")


def parse_files(spec: SourceSpec, files: Sequence[str | Path], options: Mapping[str, Any] | None = None,
                progress: ProgressHook = no_progress, base: str | Path | None = None) -> pa.Table:
    """Parse every file (nothing is written); the records of all files in one table. A record's reference
    (and a control's warning) names its file relative to ``base`` (default: the working directory), never by
    its absolute path (``paths.relative_path``)."""
    parse = spec.parse_file_fn()
    tables = []
    for path in files:
        shown = relative_path(path, base)
        table = _name_file(to_records_table(parse(Path(path), **dict(options or {}))), str(path), shown)
        progress("parsed", {"file": shown, "records": table.num_rows})
        tables.append(table)
    if not tables:
        return as_records_table(records_to_arrow([]))
    return pa.concat_tables(tables)


def _name_file(table: pa.Table, given: str, shown: str) -> pa.Table:
    """``table`` with the file's path as given replaced by ``shown`` in the record references and fields."""
    if given == shown:
        return table
    for name in ("record_ref", "fields_json"):
        index = table.schema.get_field_index(name)
        if index >= 0:
            table = table.set_column(index, name, pc.replace_substring(table.column(name), given, shown))
    return table


def _insert_unmapped(conn: Connection, unmapped: pa.Table, *, source: str, ledger: str, batch_id: str,
                     seq: int, now: datetime) -> int:
    """Quarantine records that could not be mapped; replayed ones that still fail get another attempt."""
    if unmapped.num_rows == 0:
        return 0
    conn.load_arrow("ingest_unmapped", unmapped,
                    "reason_code TEXT, reason TEXT, external_id TEXT, record_ref TEXT, raw_payload TEXT, "
                    "quarantine_id TEXT")
    inserted = conn.execute("""
        INSERT INTO quarantine (id, batch_id, source, ledger_name, external_id, reason_code, reason, record_ref,
                                raw_payload, status, attempts, created_at, change_seq)
        SELECT CAST(gen_random_uuid() AS TEXT), :batch_id, :source, :ledger, external_id, reason_code, reason,
               record_ref, raw_payload, 'open', 1, :now, :seq
        FROM ingest_unmapped WHERE quarantine_id IS NULL
    """, {"batch_id": batch_id, "source": source, "ledger": ledger, "now": now, "seq": seq})
    conn.execute("""
        UPDATE quarantine SET attempts = attempts + 1, reason_code = u.reason_code, reason = u.reason,
            change_seq = :seq
        FROM ingest_unmapped u WHERE quarantine.id = u.quarantine_id
    """, {"seq": seq})
    conn.execute("DROP TABLE IF EXISTS ingest_unmapped")
    return max(inserted, 0) if inserted >= 0 else unmapped.num_rows


def _resolve_replayed(conn: Connection, resolved: pa.Table, *, batch_id: str, seq: int, now: datetime) -> int:
    if resolved.num_rows == 0:
        return 0
    conn.load_arrow("ingest_resolved", resolved, "quarantine_id TEXT, resolution TEXT")
    n = conn.execute("""
        UPDATE quarantine SET status = 'replayed', resolved_at = :now, attempts = attempts + 1,
            resolution = 'replayed in ingest batch ' || :batch_id || ' (' || r.resolution || ')', change_seq = :seq
        FROM ingest_resolved r WHERE quarantine.id = r.quarantine_id AND quarantine.status = 'open'
    """, {"now": now, "batch_id": batch_id, "seq": seq})
    conn.execute("DROP TABLE IF EXISTS ingest_resolved")
    return max(n, 0)


def map_and_post(conn: Connection, rules: MappingRules, records: pa.Table, result: IngestResult, *,
                 batch_id: str, progress: ProgressHook = no_progress) -> None:
    """Map landed records (``MAP_INPUT_COLUMNS``) and post them, on the caller's transaction."""
    if records.num_rows == 0:
        return
    mapped = _map(rules, records, progress)
    _count_mapped(result, mapped)
    seq = conn.change_seq()
    _ensure_chart(conn, rules, mapped)
    staged = mapping_mod.staged_rows(mapped)

    def post_staged() -> BatchResult | None:
        if not staged.num_rows:
            return None
        return posting.post(conn, PostRequest(staged, default_ledger=rules.ledger, source=rules.source,
                                      actor=f"ingest:{rules.source}"))

    _post_mapped(conn, rules, mapped, records, result, batch_id=batch_id, seq=seq, progress=progress,
                 post_batch=post_staged)


def _map(rules: MappingRules, records: pa.Table, progress: ProgressHook) -> mapping_mod.MappedBatch:
    mapped = mapping_mod.map_records(rules, records)
    progress("mapped", {"records": mapped.records, "transactions": mapped.transactions,
                        "unmapped": mapped.unmapped.num_rows})
    return mapped


def _count_mapped(result: IngestResult, mapped: mapping_mod.MappedBatch) -> None:
    result.transactions_mapped += mapped.transactions
    result.ignored += mapped.ignored
    result.zero_amount += mapped.zero


def _ensure_chart(conn: Connection, rules: MappingRules, mapped: mapping_mod.MappedBatch) -> None:
    """The mapping's ledger, the accounts its entries use that it may create, and their categories."""
    ensure_ledger(conn, rules.ledger)
    actor = f"ingest:{rules.source}"
    memberships = []
    for chart, name, currency in mapped.accounts_to_ensure(rules):
        ensure_account(conn, rules.ledger, AccountSpec(
            name=name, normal_balance=chart.normal_balance, currency=currency, description=chart.description,
            metadata={"source": rules.source, "chart_key": chart.key}), actor=actor)
        memberships += [(category, name) for category in chart.categories]
    assign_categories(conn, rules.ledger, memberships, rules.categories, actor=actor)


def _post_mapped(conn: Connection, rules: MappingRules, mapped: mapping_mod.MappedBatch, records: pa.Table,
                 result: IngestResult, *, batch_id: str, seq: int, progress: ProgressHook,
                 post_batch: Callable[[], BatchResult | None]) -> None:
    """Quarantine what could not be mapped and post the rest (``post_batch``), then the lifecycle of earlier
    transactions, on the caller's transaction."""
    now = datetime.now(UTC)
    new_unmapped = _insert_unmapped(conn, mapped.unmapped, source=rules.source, ledger=rules.ledger,
                                    batch_id=batch_id, seq=seq, now=now)
    result.unmapped += mapped.unmapped.num_rows
    result.quarantined += new_unmapped
    result.replayed += _resolve_replayed(conn, mapped.resolved_without_entries, batch_id=batch_id, seq=seq,
                                         now=now)
    batch = post_batch()
    if batch is not None:
        result.add_batch(batch)
        progress("posted", {"created": batch.created, "quarantined": batch.quarantined})
    # Deletions, voids and card holds act on transactions posted earlier (see lifecycle.py).
    _, lifecycle_batch = apply_lifecycle(conn, rules, records, batch_id=batch_id)
    if lifecycle_batch is not None:
        result.add_batch(lifecycle_batch)
        progress("lifecycle", {"created": lifecycle_batch.created, "transitioned": lifecycle_batch.transitioned})


class _LandMapPost:
    """One unit of ingest as the core's ``BatchWork``: land the new records, map them, post the mapped batch,
    quarantine the unmapped, apply the lifecycle and save the cursor, all in the batch's writing transaction.

    ``read`` finds the new records and maps them (and creates the accounts the mapping needs); the counts it
    takes are added to the result only by ``write``, because the core may call ``read`` twice (again inside
    the writing transaction, when another connection wrote in between)."""

    def __init__(self, spec: SourceSpec, rules: MappingRules | None, records: pa.Table, result: IngestResult, *,
                 cursor: tuple[str, str | None] | None, progress: ProgressHook):
        self.spec, self.rules, self.records, self.result = spec, rules, records, result
        self.cursor, self.progress = cursor, progress
        self.landed: pa.Table | None = None
        self.kept = False
        self.mapped: mapping_mod.MappedBatch | None = None

    def read(self, conn: Connection, *, before_write: bool) -> pa.Table | None:
        # before the writing transaction the new records come back as Arrow (no second copy of the raw JSON
        # in the store); inside it they stay in the store's temporary table for ``commit_landing``
        self.kept = not before_write
        self.landed = plan_landing(conn, self.records, keep=self.kept)
        self.progress("landed", {"records": self.records.num_rows, "new": self.landed.num_rows})
        self.mapped = None
        if self.rules is None or self.landed.num_rows == 0:
            return None
        self.mapped = _map(self.rules, self.landed, self.progress)
        _ensure_chart(conn, self.rules, self.mapped)
        return mapping_mod.staged_rows(self.mapped)

    def write(self, conn: Connection, seq: int, post_batch: Callable[[], BatchResult | None]) -> None:
        assert self.landed is not None
        batch_id = str(uuid.uuid4())
        commit_landing(conn, batch_id=batch_id, seq=seq, landed=None if self.kept else self.landed)
        self.result.records_in += self.records.num_rows
        self.result.landed += self.landed.num_rows
        if self.rules is not None and self.mapped is not None:
            _count_mapped(self.result, self.mapped)
            _post_mapped(conn, self.rules, self.mapped, self.landed, self.result, batch_id=batch_id, seq=seq,
                         progress=self.progress, post_batch=post_batch)
        if self.cursor is not None:
            save_cursor(conn, self.spec.name, self.cursor[0], self.cursor[1], seq=seq)


def _nothing_new(store: Store, records: pa.Table, result: IngestResult, progress: ProgressHook) -> bool:
    """Whether the store already holds every record (counted as read, none landed). A pull that brings
    nothing new and leaves its cursor where it was then writes nothing: no empty writing transaction, and the
    cursor row keeps its ``updated_at``. Raw records are never deleted, so what is found here stays found."""
    with store.connect() as conn, conn.transaction():  # plan_landing writes temporary tables only
        new = plan_landing(conn, records, keep=False).num_rows
    if new:
        return False
    result.records_in += records.num_rows
    progress("landed", {"records": records.num_rows, "new": 0})
    return True


def _land_map_post(store: Store, spec: SourceSpec, rules: MappingRules | None, records: pa.Table,
                   result: IngestResult, *, cursor: tuple[str, str | None] | None,
                   progress: ProgressHook) -> None:
    work = _LandMapPost(spec, rules, records, result, cursor=cursor, progress=progress)
    if rules is None:  # land only: nothing is posted
        posting.post(store, PostRequest(work=work, actor=f"ingest:{spec.name}"))
    else:
        posting.post(store, PostRequest(work=work, default_ledger=rules.ledger, source=rules.source,
                                actor=f"ingest:{rules.source}"))


def ingest(
    store: Store, source: str, *, files: Sequence[str | Path] | None = None, api: bool = False,
    base_url: str | None = None, streams: Sequence[str] | None = None, client: Any = None,
    file_options: Mapping[str, Any] | None = None, mapping: str | Path | MappingRules | None = None,
    post: bool = True, progress: ProgressHook | None = None, files_base: str | Path | None = None,
) -> IngestResult:
    """Extract ``source`` from ``files`` or its API, land the records, map and post them.

    Args:
        store: the ledger store (initialised).
        source: a key of ``sources.SOURCES``.
        files: exported files to read (all parsed before anything is written).
        api: read the source's API, stream by stream, from each stream's saved cursor.
        base_url: API base URL (default: the connector's).
        streams: API streams to read (default: all of the source's).
        client: an ``HttpClient`` to use instead of building one (tests).
        file_options: keyword options for the file parser (e.g. a CSV column mapping).
        mapping: a mapping name/path or parsed rules instead of the source's default.
        post: ``False`` lands only.
        progress: ``hook(event, detail)`` called as work proceeds (``parsed``, ``extracted``, ``landed``,
            ``mapped``, ``posted``).
        files_base: the folder the files are named relative to in records and quarantine (default: the
            working directory; the landing folder for dropped files).
    """
    spec = get_source(source)
    hook = progress or no_progress
    rules = _rules(spec, mapping, post)
    result = IngestResult(source=spec.name)
    if bool(files) == bool(api):
        raise ValueError("give either files or api=True")
    if files:
        records = parse_files(spec, files, file_options, hook, base=files_base)
        return _ingest_parsed(store, spec, rules, records, result, hook)
    owns_client = client is None
    client = client or spec.client_fn()(base_url)
    try:
        for stream in streams or list(spec.api_streams):
            with store.connect() as conn:
                cursor = read_cursor(conn, spec.name, stream)
            extracted: ExtractResult = spec.stream_fn(stream)(client, cursor)
            hook("extracted", {"stream": stream, "records": len(extracted.records), "cursor": extracted.cursor})
            result.streams[stream] = len(extracted.records)
            result.cursors[stream] = extracted.cursor
            records = records_to_arrow(extracted.records)
            if extracted.cursor in (None, cursor) and _nothing_new(store, records, result, hook):
                continue
            _land_map_post(store, spec, rules, records, result, cursor=(stream, extracted.cursor), progress=hook)
    finally:
        if owns_client:
            client.close()
    return result


def ingest_files_as_delivered(store: Store, source: str, files: Sequence[str | Path], *,
                              mapping: str | Path | MappingRules | None = None) -> IngestResult:
    """``ingest`` of files, with the rules loaded once per mapping (a server receiving webhooks calls this
    per delivery). A delivery repeated lands nothing new and posts nothing twice."""
    spec = get_source(source)
    key = (spec.name, str(mapping) if not isinstance(mapping, MappingRules) else id(mapping))
    rules = _RULES_CACHE.get(key)
    if rules is None:
        rules = _RULES_CACHE.setdefault(key, _rules(spec, mapping, True))
    return _ingest_parsed(store, spec, rules, parse_files(spec, files), IngestResult(source=spec.name), no_progress)


_RULES_CACHE: dict[tuple[str, Any], MappingRules | None] = {}


def _rules(spec: SourceSpec, mapping: str | Path | MappingRules | None, post: bool) -> MappingRules | None:
    if not post:
        return None
    if isinstance(mapping, MappingRules):
        return mapping
    if mapping is not None or spec.mapping:
        return mapping_mod.load_mapping(mapping or spec.mapping)
    return None


def _ingest_parsed(store: Store, spec: SourceSpec, rules: MappingRules | None, records: pa.Table,
                   result: IngestResult, hook: ProgressHook) -> IngestResult:
    for stream, n in _stream_counts(records).items():
        result.streams[stream] = result.streams.get(stream, 0) + n
    _land_map_post(store, spec, rules, records, result, cursor=None, progress=hook)
    return result


def _stream_counts(records: pa.Table) -> dict[str, int]:
    if records.num_rows == 0:
        return {}
    counts = records.group_by("stream").aggregate([("stream", "count")]).to_pylist()
    return {row["stream"]: int(row["stream_count"]) for row in counts}


def replay_unmapped(store: Store, *, source: str | None = None, mapping: str | Path | MappingRules | None = None,
                    progress: ProgressHook | None = None) -> dict[str, IngestResult]:
    """Map open quarantine items of records that could not be mapped again (after the mapping was fixed).

    Items that now post are marked ``replayed`` by the core; items still unmapped stay open with one more
    attempt. Returns a result per source.
    """
    hook = progress or no_progress
    results: dict[str, IngestResult] = {}
    with store.transaction() as conn:
        items = conn.all(
            "SELECT id, source, raw_payload FROM quarantine WHERE status = 'open' "
            "AND raw_payload LIKE :prefix AND (CAST(:source AS TEXT) IS NULL OR source = :source) "
            "ORDER BY created_at, id",
            {"prefix": INGEST_PAYLOAD_PREFIX + "%", "source": source},
        )
        by_source: dict[str, list[dict[str, Any]]] = {}
        for qid, item_source, payload in items:
            record = json.loads(payload)["ingest_record"]
            by_source.setdefault(item_source, []).append({
                "source": record["source"], "stream": record["stream"], "object_id": record["object_id"],
                "record_hash": record["record_hash"], "record_type": record.get("record_type"),
                "cursor_value": record.get("cursor_value"), "record_ref": record.get("record_ref"),
                "raw_json": RawRecord("", "", "", None, record["raw"], {}).raw_json(),
                "fields_json": json.dumps(record["fields"], sort_keys=True, separators=(",", ":")),
                "quarantine_id": qid,
            })
        for item_source, rows in by_source.items():
            spec = get_source(item_source)
            if isinstance(mapping, MappingRules):
                rules = mapping
            else:
                rules = mapping_mod.load_mapping(mapping or spec.mapping)
            table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in MAP_INPUT_COLUMNS]))
            result = IngestResult(source=item_source, records_in=len(rows))
            map_and_post(conn, rules, table, result, batch_id=str(uuid.uuid4()), progress=hook)
            results[item_source] = result
    return results
