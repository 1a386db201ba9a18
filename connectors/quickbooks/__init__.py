"""QuickBooks Online: the money-moving entities, incrementally, with deletions and voids.

Each entity is a stream with its own cursor. Updates come from the query endpoint with a
``MetaData.LastUpdatedTime`` cursor (minus a lookback). Hard deletes never show up there, so every run also
reads the change-data-capture (CDC) endpoint for the same entity and window: an object CDC reports
``Deleted`` becomes a record with ``action = reverse``, and the ingest step reverses its ledger transaction.
Voids are updates (amounts set to 0, note ``Voided``) and get the same treatment. An object both
endpoints return is kept once (the latest ``SyncToken``; a deletion wins).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.common.amounts import load_json_file, unwrap_recorded
from connectors.common.cursors import advance, window_start
from connectors.common.errors import ParseError
from connectors.common.http import HttpClient, json_api_client
from connectors.common.records import ExtractResult, RawRecord
from connectors.common.streams import stream_extractor
from connectors.quickbooks import helpers, settings

__all__ = ["extract_bill_payments", "extract_deposits", "extract_entity", "extract_invoices",
           "extract_journal_entries", "extract_payments", "extract_sales_receipts", "extract_transfers",
           "make_client", "parse_cdc", "parse_file"]


def make_client(base_url: str | None = None, *, realm_id: str | None = None, access_token: str | None = None,
                **client_options) -> HttpClient:
    """An ``HttpClient`` on ``<base_url>/v3/company/<realm id>`` with the OAuth bearer token.

    Args:
        base_url: the API host (default ``$QUICKBOOKS_BASE_URL`` or production); a local URL in tests.
        realm_id: the company id (default ``$QUICKBOOKS_REALM_ID``).
        access_token: an OAuth 2 access token (default ``$QUICKBOOKS_ACCESS_TOKEN``); refreshing it is the
            caller's job.
        client_options: passed to ``HttpClient`` (timeouts, retries, transport).
    """
    realm = realm_id or os.environ.get(settings.ENV_REALM_ID) or "0"
    token = access_token or os.environ.get(settings.ENV_ACCESS_TOKEN)
    host = (base_url or os.environ.get(settings.ENV_BASE_URL) or settings.BASE_URL).rstrip("/")
    client_options.setdefault("rate_limit_per_second", 8.0)  # 500 requests/minute per realm
    return json_api_client(host + settings.COMPANY_PATH.format(realm_id=realm),
                           {"Authorization": f"Bearer {token}" if token else None}, **client_options)


def extract_entity(client: HttpClient, cursor: str | None, entity: str, *,
                   page_size: int = settings.PAGE_SIZE, now: datetime | None = None) -> ExtractResult:
    """Read one entity changed since ``cursor`` (minus the lookback), then its deletions from CDC.

    Args:
        client: from ``make_client`` (base URL ends with the company).
        cursor: the previous run's cursor (ISO-8601 ``LastUpdatedTime``), or ``None`` for a full load.
        entity: ``Invoice``, ``Payment``, ``JournalEntry``...
        page_size: ``MAXRESULTS`` per query page (at most 1000).
        now: the current time (tests); CDC only covers the last 30 days.

    Returns:
        The records (one per object, deletions included) and the new cursor.
    """
    since = window_start(cursor, settings.LOOKBACK)
    params = {"minorversion": settings.MINOR_VERSION}
    records: dict[str, RawRecord] = {}

    def get(statement: str) -> dict:
        return client.get_json(settings.QUERY_PATH, params={**params, "query": statement})

    for page in helpers.query_pages(get, entity, since, page_size):
        for obj in page:
            for record in helpers.parse_entity(entity, obj):
                _keep(records, record)

    if since is not None:
        # CDC answers for the last 30 days only: a cursor older than that is clamped (run at least monthly).
        oldest = (now or datetime.now(UTC)) - settings.CDC_MAX_AGE + timedelta(minutes=1)
        body = client.get_json(settings.CDC_PATH, params={
            **params, "entities": entity, "changedSince": max(since, oldest).isoformat()})
        for record in parse_cdc(body):
            if record.fields["entity"] == entity:
                _keep(records, record)
    kept = list(records.values())
    return ExtractResult(kept, advance(cursor, (r.cursor_value for r in kept)))


_ARGS = """ changed since ``cursor``, and those deleted (CDC).

    Args:
        client: from ``make_client``.
        cursor: the previous run's cursor, or ``None`` for a full load.
    """


def _stream(stream: str, what: str):
    return stream_extractor(stream, extract_entity, what + _ARGS, entity=settings.STREAMS[stream])


extract_journal_entries = _stream("journal_entries", "Journal entries (one record per line)")
extract_payments = _stream("payments", "Customer payments")
extract_invoices = _stream("invoices", "Invoices")
extract_deposits = _stream("deposits", "Bank deposits")
extract_transfers = _stream("transfers", "Transfers between accounts")
extract_bill_payments = _stream("bill_payments", "Bill payments to vendors")
extract_sales_receipts = _stream("sales_receipts", "Sales receipts (cash sales)")


def parse_cdc(body: dict) -> list[RawRecord]:
    """Records of a change-data-capture response, deleted objects included.

    Args:
        body: the CDC response JSON, parsed with ``Decimal`` floats.
    """
    return [r for entity, obj in helpers.cdc_objects(body) for r in helpers.parse_entity(entity, obj, from_cdc=True)]


def _version(record: RawRecord) -> tuple[int, int, str]:
    deleted = 1 if record.fields.get("reason") == "deleted" else 0
    raw = record.raw.get("JournalEntry", record.raw)
    token = raw.get("SyncToken")
    return deleted, int(token) if str(token or "").isdigit() else -1, record.cursor_value or ""


def _keep(records: dict[str, RawRecord], record: RawRecord) -> None:
    """One version per object in a run: the query page and CDC may both return it."""
    if record.object_id not in records or _version(record) >= _version(records[record.object_id]):
        records[record.object_id] = record


def parse_file(path, **options) -> list[RawRecord]:
    """Records of a saved QuickBooks response: a query page, a CDC response, a batch response, or an entity
    response (``{"JournalEntry": {...}, "time": ...}`` as a read by id, create, update, void or delete
    returns it), bare or recorded as ``{"request", "response"}``.

    An error response (``Fault``), a file holding no entity this parser knows, or an object that yields no
    record (a JournalEntry without journal lines) is a ``ParseError`` naming the file: never 0 records in
    silence. An empty query page or CDC response (nothing changed) is 0 records.

    Args:
        path: the JSON file.
        options: unused.
    """
    body = unwrap_recorded(load_json_file(path))
    if not isinstance(body, dict):
        raise ParseError(path, None, f"expected a JSON object, got a JSON {type(body).__name__}")
    try:
        return _parse_body(path, body)
    except ParseError as exc:
        if exc.path == str(path):
            raise
        raise ParseError(path, exc.location, exc.message) from None


def _fault(path, fault: Any, where: str | None = None) -> ParseError:
    errors = fault.get("Error") if isinstance(fault, dict) else None
    detail = "; ".join(f"{e.get('code', '')} {e.get('Message', '')}: {e.get('Detail', '')}".strip()
                       for e in errors if isinstance(e, dict)) if isinstance(errors, list) else str(fault)
    return ParseError(path, where, f"an error response (Fault), not data: {detail}")


def _objects(path, entity: str, value: Any, where: str) -> list[RawRecord]:
    """Records of one entity key's value (an object or a list of objects); each object yields records."""
    objects = value if isinstance(value, list) else [value]
    out = []
    for i, obj in enumerate(objects, start=1):
        at = f"{where} {entity}" + (f" #{i}" if isinstance(value, list) else "")
        if not isinstance(obj, dict):
            raise ParseError(path, at, f"expected an object, got {type(obj).__name__}")
        records = helpers.parse_entity(entity, obj)
        if not records:
            raise ParseError(path, f"{entity} {obj.get('Id')}", "yields no record (a JournalEntry without "
                                                                "journal lines?)")
        out.extend(records)
    return out


def _entity_keys(body: dict) -> list[str]:
    """Keys naming QBO entities: capitalised, holding an object with an ``Id`` or a list of objects."""
    return [k for k, v in body.items() if k[:1].isupper() and k not in _NOT_ENTITIES
            and ((isinstance(v, dict) and "Id" in v) or (isinstance(v, list) and all(isinstance(o, dict) for o in v)))]


_NOT_ENTITIES = frozenset({"QueryResponse", "CDCResponse", "BatchItemResponse", "Fault"})


def _parse_body(path, body: dict) -> list[RawRecord]:
    if "Fault" in body:
        raise _fault(path, body["Fault"])
    if "CDCResponse" in body:
        return parse_cdc(body)
    if "QueryResponse" in body:
        response = body["QueryResponse"]
        if not isinstance(response, dict):
            raise ParseError(path, "QueryResponse", "expected an object")
        return [r for entity in _entity_keys(response) for r in _objects(path, entity, response[entity], "query")]
    if isinstance(body.get("BatchItemResponse"), list):
        out = []
        for i, item in enumerate(body["BatchItemResponse"], start=1):
            where = f"batch item {item.get('bId', i)}" if isinstance(item, dict) else f"batch item {i}"
            if not isinstance(item, dict):
                raise ParseError(path, where, "expected an object")
            if "Fault" in item:
                raise _fault(path, item["Fault"], where)
            keys = _entity_keys(item)
            if not keys:
                raise ParseError(path, where, f"no entity in it (keys: {', '.join(item) or 'none'})")
            out.extend(r for entity in keys for r in _objects(path, entity, item[entity], where))
        return out
    keys = _entity_keys(body)
    if not keys:
        raise ParseError(path, None, "not a QuickBooks query, CDC, batch or entity response: no entity object "
                                     f"with an Id (keys: {', '.join(body) or 'none'})")
    return [r for entity in keys for r in _objects(path, entity, body[entity], "response")]
