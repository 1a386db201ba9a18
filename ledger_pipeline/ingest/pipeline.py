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
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.common.records import ExtractResult, RawRecord, records_to_arrow
from ledger_pipeline.ingest import mapping as mapping_mod
from ledger_pipeline.ingest.landing import (
    as_records_table,
    commit_landing,
    land_records,
    plan_landing,
    read_cursor,
    save_cursor,
)
from ledger_pipeline.ingest.lifecycle import apply_lifecycle
from ledger_pipeline.ingest.mapping import MAP_INPUT_COLUMNS
from ledger_pipeline.ingest.mapping import Mapping as MappingRules
from ledger_pipeline.ingest.sources import SourceSpec, get_source
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account, ensure_ledger
from ledger_pipeline.ledger.posting import (
    BatchResult,
    PreparedBatch,
    bulk_memory_limit,
    post_batch_rows,
    post_prepared,
    prepare_batch,
)
from ledger_pipeline.ledger.store import Connection, Store

ProgressHook = Callable[[str, Mapping[str, Any]], None]
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


def _noop(event: str, detail: Mapping[str, Any]) -> None:
    return None


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
                progress: ProgressHook = _noop) -> pa.Table:
    """Parse every file (nothing is written); the records of all files in one table."""
    parse = spec.parse_file_fn()
    tables = []
    for path in files:
        table = to_records_table(parse(Path(path), **dict(options or {})))
        progress("parsed", {"file": str(path), "records": table.num_rows})
        tables.append(table)
    if not tables:
        return as_records_table(records_to_arrow([]))
    return pa.concat_tables(tables)


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
                 batch_id: str, progress: ProgressHook = _noop) -> None:
    """Map landed records (``MAP_INPUT_COLUMNS``) and post them, on the caller's transaction."""
    if records.num_rows == 0:
        return
    mapped = _map(rules, records, result, progress)
    seq = conn.change_seq()
    _ensure_chart(conn, rules, mapped)
    _post_mapped(conn, rules, mapped, records, result, batch_id=batch_id, seq=seq, progress=progress)


def _map(rules: MappingRules, records: pa.Table, result: IngestResult,
         progress: ProgressHook) -> mapping_mod.MappedBatch:
    mapped = mapping_mod.map_records(rules, records)
    result.transactions_mapped += mapped.transactions
    result.ignored += mapped.ignored
    result.zero_amount += mapped.zero
    progress("mapped", {"records": mapped.records, "transactions": mapped.transactions,
                        "unmapped": mapped.unmapped.num_rows})
    return mapped


def _ensure_chart(conn: Connection, rules: MappingRules, mapped: mapping_mod.MappedBatch) -> None:
    """The mapping's ledger and the accounts its entries use that it may create."""
    ensure_ledger(conn, rules.ledger)
    for chart, name, currency in mapped.accounts_to_ensure(rules):
        ensure_account(conn, rules.ledger, AccountSpec(
            name=name, normal_balance=chart.normal_balance, currency=currency, description=chart.description,
            metadata={"source": rules.source, "chart_key": chart.key}), actor=f"ingest:{rules.source}")


def _post_mapped(conn: Connection, rules: MappingRules, mapped: mapping_mod.MappedBatch, records: pa.Table,
                 result: IngestResult, *, batch_id: str, seq: int, progress: ProgressHook,
                 prepared: PreparedBatch | None = None) -> None:
    """Quarantine what could not be mapped and post the rest (staged already when ``prepared`` is given),
    then the lifecycle of earlier transactions, on the caller's transaction."""
    now = datetime.now(UTC)
    new_unmapped = _insert_unmapped(conn, mapped.unmapped, source=rules.source, ledger=rules.ledger,
                                    batch_id=batch_id, seq=seq, now=now)
    result.unmapped += mapped.unmapped.num_rows
    result.quarantined += new_unmapped
    result.replayed += _resolve_replayed(conn, mapped.resolved_without_entries, batch_id=batch_id, seq=seq,
                                         now=now)
    pipeline = {"default_ledger": rules.ledger, "source": rules.source, "actor": f"ingest:{rules.source}"}
    batch = None
    if prepared is not None:
        batch = post_prepared(conn, prepared, seq=seq, request_hash=None, **pipeline)
    else:
        staged = mapping_mod.staged_rows(mapped)
        if staged.num_rows:
            batch = post_batch_rows(conn, staged, **pipeline)
    if batch is not None:
        result.add_batch(batch)
        progress("posted", {"created": batch.created, "quarantined": batch.quarantined})
    # Deletions, voids and card holds act on transactions posted earlier (see lifecycle.py).
    _, lifecycle_batch = apply_lifecycle(conn, rules, records, batch_id=batch_id)
    if lifecycle_batch is not None:
        result.add_batch(lifecycle_batch)
        progress("lifecycle", {"created": lifecycle_batch.created, "transitioned": lifecycle_batch.transitioned})


def _land_map_post(store: Store, spec: SourceSpec, rules: MappingRules | None, records: pa.Table,
                   result: IngestResult, *, cursor: tuple[str, str | None] | None,
                   progress: ProgressHook) -> None:
    if rules is not None and not store.is_postgres and store.target != ":memory:":
        before = copy.deepcopy(result)
        if _land_map_post_staged(store, spec, rules, records, result, cursor=cursor, progress=progress):
            return
        result.__dict__.update(before.__dict__)  # counted again below
    batch_id = str(uuid.uuid4())
    with store.transaction() as conn:
        seq = conn.change_seq()
        landed = land_records(conn, records, batch_id=batch_id, seq=seq)
        result.records_in += records.num_rows
        result.landed += landed.num_rows
        progress("landed", {"records": records.num_rows, "new": landed.num_rows})
        if rules is not None:
            map_and_post(conn, rules, landed, result, batch_id=batch_id, progress=progress)
        if cursor is not None:
            save_cursor(conn, spec.name, cursor[0], cursor[1], seq=seq)


class _StaleReading(Exception):
    """Another connection wrote the ledger between the reading and the writing of a staged ingest."""


def _land_map_post_staged(store: Store, spec: SourceSpec, rules: MappingRules, records: pa.Table,
                          result: IngestResult, *, cursor: tuple[str, str | None] | None,
                          progress: ProgressHook) -> bool:
    """``_land_map_post`` for a DuckDB file, with the reading done before the writing transaction.

    DuckDB scans what the open transaction wrote on one thread, so the landing's new rows and the post's
    staging are computed first, outside it (as ``posting.post_batch`` does; see ``posting.prepare_batch``):
    which records are new, their mapping, and the post's staging. The accounts the mapping may create are
    created then too, in a transaction of their own (an account without entries, created once). The writing
    transaction then appends the landed records, quarantines the unmapped, posts the staged batch and
    saves the cursor, all or nothing. The store's write lock is held throughout. Returns False, having
    written nothing but those accounts, when another connection wrote the ledger in between (a write that
    bypassed the lock): the caller then does it all in one transaction.
    """
    batch_id = str(uuid.uuid4())
    with store.write_lock(), store.connect() as conn, bulk_memory_limit(conn):
        mark = conn.change_mark()
        landed = plan_landing(conn, records, keep=False)
        result.records_in += records.num_rows
        result.landed += landed.num_rows
        progress("landed", {"records": records.num_rows, "new": landed.num_rows})
        mapped = prepared = None
        if landed.num_rows:
            mapped = _map(rules, landed, result, progress)
            with conn.transaction():
                _ensure_chart(conn, rules, mapped)
            staged = mapping_mod.staged_rows(mapped)
            if staged.num_rows:
                prepared = prepare_batch(conn, staged, rules.ledger, since=mark)
        try:
            with conn.transaction():
                seq = conn.change_seq()
                if not conn.only_own_changes_since(mark, seq):
                    raise _StaleReading
                commit_landing(conn, batch_id=batch_id, seq=seq, landed=landed)
                if mapped is not None:
                    _post_mapped(conn, rules, mapped, landed, result, batch_id=batch_id, seq=seq,
                                 progress=progress, prepared=prepared)
                if cursor is not None:
                    save_cursor(conn, spec.name, cursor[0], cursor[1], seq=seq)
        except _StaleReading:
            return False
    return True


def ingest(
    store: Store, source: str, *, files: Sequence[str | Path] | None = None, api: bool = False,
    base_url: str | None = None, streams: Sequence[str] | None = None, client: Any = None,
    file_options: Mapping[str, Any] | None = None, mapping: str | Path | MappingRules | None = None,
    post: bool = True, progress: ProgressHook | None = None,
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
    """
    spec = get_source(source)
    hook = progress or _noop
    rules: MappingRules | None = None
    if post:
        if isinstance(mapping, MappingRules):
            rules = mapping
        elif mapping is not None or spec.mapping:
            rules = mapping_mod.load_mapping(mapping or spec.mapping)
    result = IngestResult(source=spec.name)
    if bool(files) == bool(api):
        raise ValueError("give either files or api=True")
    if files:
        records = parse_files(spec, files, file_options, hook)
        for stream, n in _stream_counts(records).items():
            result.streams[stream] = result.streams.get(stream, 0) + n
        _land_map_post(store, spec, rules, records, result, cursor=None, progress=hook)
        return result
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
            _land_map_post(store, spec, rules, records_to_arrow(extracted.records), result,
                           cursor=(stream, extracted.cursor), progress=hook)
    finally:
        if owns_client:
            client.close()
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
    hook = progress or _noop
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
