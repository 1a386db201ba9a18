"""Stripe helpers: list pagination and normalising objects and report rows into raw records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from connectors.common.cursors import as_epoch, epoch_to_iso, revisit_cursor, revisit_start
from connectors.common.errors import ParseError, SourceError
from connectors.common.files import amount_to_minor
from connectors.common.http import HttpClient
from connectors.common.records import ExtractResult, RawRecord
from connectors.stripe import settings
from ledger_common.money import currency_exponent

GROSS_FEE_NET_MISMATCH = "gross_fee_net_mismatch"
_AMOUNT_FIELDS = ("amount", "fee", "net", "amount_refunded", "amount_captured", "amount_reversed")
_TIME_FIELDS = ("created", "available_on", "arrival_date")


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value


def normalise(stream: str, obj: dict[str, Any], record_ref: str | None = None, verify: bool = True) -> RawRecord:
    """One API object as a raw record; ``fields.type`` is the reporting category for balance transactions
    (``charge``, ``refund``, ``dispute``, ``dispute_reversal``, ``payout``, ``fee``...) so that API objects
    and report rows map with the same templates, and the object name for the other streams."""
    object_id = obj.get("id")
    if not object_id:
        raise ParseError(record_ref or f"stripe {stream}", record_ref, "object without an id")
    fields: dict[str, Any] = {}
    for name in _AMOUNT_FIELDS:
        value = obj.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParseError(record_ref or f"stripe {stream}", f"object {object_id}",
                                 f"{name} {value!r} is not an integer of minor units")
            fields[name] = value
    for name in _TIME_FIELDS:
        if obj.get(name) is not None:
            fields[name] = epoch_to_iso(obj[name])
    if obj.get("currency"):
        fields["currency"] = str(obj["currency"]).upper()
    for name in ("status", "description", "balance_type", "reason", "method"):
        if obj.get(name) is not None:
            fields[name] = obj[name]
    for name in ("source", "charge", "payment_intent", "balance_transaction", "destination", "payout",
                 "customer"):
        if obj.get(name) is not None:
            fields[f"{name}_id"] = _id_of(obj[name])
    if stream == "balance_transactions":
        fields["type"] = obj.get("reporting_category") or obj.get("type")
        fields["bt_type"] = obj.get("type")
        if all(n in fields for n in ("amount", "fee", "net")) and fields["amount"] - fields["fee"] != fields["net"]:
            _flag(fields, verify, f"{record_ref or object_id}: amount {fields['amount']} - fee {fields['fee']} "
                                  f"!= net {fields['net']}")
    else:
        fields["type"] = obj.get("object") or settings.STREAMS[stream][1]
    return RawRecord(source="stripe", stream=stream, object_id=object_id,
                     cursor_value=str(obj["created"]) if obj.get("created") is not None else None,
                     raw=obj, fields=fields, record_ref=record_ref)


def _flag(fields: dict[str, Any], verify: bool, detail: str) -> None:
    """Record a failed gross - fee = net check: quarantined on import, or only a warning when not verifying."""
    flag = {"code": GROSS_FEE_NET_MISMATCH, "detail": f"{GROSS_FEE_NET_MISMATCH}: {detail}"}
    if verify:
        fields["quarantine"] = flag
    else:
        fields["warnings"] = [*fields.get("warnings", []), flag]


def _report_time(path: str, line: int, column: str, text: str) -> str:
    """ISO-8601 UTC from a report time (``2024-02-01 10:00:00``, UTC; an explicit offset is honoured)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(path, line, f"{column} {text!r} is not a date and time (YYYY-MM-DD HH:MM:SS)") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def report_row(stream: str, row: dict[str, str], record_ref: str, path: str, line: int,
               verify: bool = True) -> RawRecord:
    """A row of the Balance or Itemized payout reconciliation report (amounts in major units, exact).

    A row whose gross - fee is not its net is flagged ``gross_fee_net_mismatch``: quarantined on import, or
    (``verify=False``) posted with the warning."""
    currency = row["currency"].strip().upper()
    exponent = currency_exponent(currency)
    fields: dict[str, Any] = {"currency": currency, "type": row["reporting_category"].strip(),
                              "status": "available"}
    for src, dst in (("gross", "amount"), ("fee", "fee"), ("net", "net")):
        try:
            fields[dst] = amount_to_minor(row[src], exponent)
        except ValueError as exc:
            raise ParseError(path, line, f"column {src!r}: {exc}") from None
    if fields["amount"] - fields["fee"] != fields["net"]:
        _flag(fields, verify, f"{path}, line {line}: gross {row['gross']} - fee {row['fee']} != net {row['net']}")
    column = next(c for c in settings.REPORT_TIME_COLUMNS if c in row)
    created = row[column].strip()
    if not created:
        raise ParseError(path, line, f"{column} is empty")
    fields["created"] = _report_time(path, line, column, created)
    for name in ("available_on_utc",):
        if row.get(name, "").strip():
            fields["available_on"] = row[name].strip().replace(" ", "T") + "+00:00"
    for name in ("source_id", "description", "automatic_payout_id", "customer_facing_currency"):
        if row.get(name, "").strip():
            fields[name] = row[name].strip()
    return RawRecord(source="stripe", stream=stream, object_id=row["balance_transaction_id"].strip(),
                     cursor_value=fields["created"], raw=row, fields=fields, record_ref=record_ref)


def list_pages(client: HttpClient, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Every page of a list endpoint (``starting_after`` = the last id of the previous page)."""
    starting_after = None
    while True:
        page_params = {**params, "limit": settings.PAGE_LIMIT}
        if starting_after:
            page_params["starting_after"] = starting_after
        page = client.get_json(path, params=page_params)
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise SourceError(f"GET {path}: expected a list object with 'data', got {str(page)[:200]}")
        data = page["data"]
        yield data
        if not page.get("has_more") or not data:
            return
        starting_after = data[-1]["id"]


def extract_stream(stream: str, client: HttpClient, cursor: str | None) -> ExtractResult:
    """All objects of ``stream`` created since ``cursor - LOOKBACK``, or since the oldest object that was
    still open (``settings.OPEN_STATUSES``) on the previous run; the new cursor is the latest ``created``
    seen (Unix seconds as text) and the ``created`` of the oldest object still open."""
    path, _ = settings.STREAMS[stream]
    start = revisit_start(cursor, settings.LOOKBACK)
    params: dict[str, Any] = {}
    if start is not None:
        params["created[gte]"] = as_epoch(start)
    records = []
    for page in list_pages(client, path, params):
        records.extend(normalise(stream, obj, record_ref=f"{path} {obj.get('id')}") for obj in page)
    open_statuses = settings.OPEN_STATUSES.get(stream, frozenset())
    return ExtractResult(records=records, cursor=revisit_cursor(
        cursor, (r.cursor_value for r in records),
        (r.cursor_value for r in records if r.raw.get("status") in open_statuses)))
