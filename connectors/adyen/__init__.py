"""Adyen: the Settlement Details Report and the Payments Accounting Report (CSV; columns read by header
name because their order differs between report versions) and standard notification webhooks (JSON, as
saved deliveries).

Settlement Details Report rows become records of stream ``settlement_details`` with, in the NET currency
(the currency the batch settles in): ``net`` = Net Credit - Net Debit, ``fees`` = Commission + Markup +
Scheme Fees + Interchange, ``gross`` = net + fees, all signed integers of minor units; ``type`` is the
row's Type (Settled, Refunded, Chargeback, ChargebackReversed, Fee, MerchantPayout, ...). The gross in the
gross currency is kept as ``gross_gc``/``gross_currency`` for reference (it cannot be posted beside NC
amounts when the currencies differ). Creation times are converted from the row's TimeZone to UTC.

The report's own control is checked: per merchant account, batch and currency, the net of the rows plus
the MerchantPayout row(s) must be zero. A batch that does not add up is reported as the named warning
``batch_net_mismatch`` and every row of it is quarantined on import (``fields.quarantine``), unless the
caller passes ``verify=False``: then the rows post and carry the warning in ``fields.warnings``. A batch
without a MerchantPayout row (the balance is carried to a later batch) has no control to check. A row
that cannot be read (a malformed amount or date, a cut row) does not sink the report: it becomes a record
of type ``unreadable_row`` quarantined with the file, line and reason, and the other rows of its batch
are held back with the warning ``batch_incomplete`` (a batch is never posted in part).

Payments Accounting Report rows become records of stream ``payments_accounting`` (``type`` = Record Type:
Received, Authorised, SentForSettle, Settled, Refunded, Chargeback, ...) with the payment-currency amounts
(``received``, ``authorised``, ``captured``) and the settlement-currency ``payable`` and ``fees``. They
are landed for reconciliation, not posted: the Settlement Details Report carries the money.

Webhooks become records of stream ``notifications`` (``type`` = eventCode); they are landed, not posted
(settlement rows carry the money; see ledger_pipeline/ingest/mappings/adyen.yaml).

API mode (``extract_settlement_details``) downloads the Settlement Details Report of each batch after the
cursor (the last batch downloaded) from Adyen's report download endpoint and reads it with the same parser;
the first batch that is not there yet (HTTP 404) ends the pull.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from connectors.adyen import settings
from connectors.common.errors import ParseError, SourceError
from connectors.common.files import NumberFormat, amount_to_minor, iter_csv_rows, read_text
from connectors.common.http import HttpClient
from connectors.common.records import ExtractResult, RawRecord
from ledger_common.money import currency_exponent

_PLAIN = NumberFormat(".", None)
#: ``.11`` and ``-.5``: Adyen's reports may drop the leading zero of an amount under one
_NO_LEADING_ZERO = re.compile(r"^([+-]?)\.(?=\d)")

BATCH_NET_MISMATCH = "batch_net_mismatch"
UNREADABLE_ROW = "unreadable_row"
BATCH_INCOMPLETE = "batch_incomplete"


def _money(path: Path, line: int, row: dict[str, str], column: str, currency: str) -> int:
    text = row.get(column, "").strip()
    if not text:
        return 0
    if not currency:
        raise ParseError(path, line, f"column {column!r} holds {text!r} but its currency column is empty")
    try:
        return amount_to_minor(_NO_LEADING_ZERO.sub(r"\g<1>0.", text), currency_exponent(currency), _PLAIN)
    except ValueError as exc:
        raise ParseError(path, line, f"column {column!r}: {exc}") from None


def _utc(path: Path, line: int, local: str, zone: str, column: str = "Creation Date") -> str:
    try:
        naive = datetime.strptime(local.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ParseError(path, line, f"{column} {local!r} is not YYYY-MM-DD HH:MM:SS") from None
    name = settings.TIMEZONES.get(zone.strip().upper(), zone.strip())
    if not name:
        raise ParseError(path, line, f"{column} {local!r} has no TimeZone")
    try:
        tz = ZoneInfo(name)
    except Exception:
        raise ParseError(path, line, f"unknown TimeZone {zone!r}") from None
    return naive.replace(tzinfo=tz).astimezone(UTC).isoformat()


def _unreadable(path: Path, stream: str, line: int, row: dict[str, str], message: str,
                batch: dict[str, str] | None = None) -> RawRecord:
    """A row that cannot be read: landed and quarantined (never posted, never dropped)."""
    fields: dict[str, Any] = {"type": UNREADABLE_ROW, "quarantine": {"code": UNREADABLE_ROW, "detail": message},
                              **(batch or {})}
    return RawRecord(source="adyen", stream=stream, object_id=f"{UNREADABLE_ROW}:{path.name}:{line}",
                     cursor_value=None, raw=row, fields=fields, record_ref=f"{path}, line {line}")


def _settlement_fields(path: Path, line: int, row: dict[str, str]) -> dict[str, Any]:
    currency = row["Net Currency"].strip().upper()
    if not currency:
        raise ParseError(path, line, "Net Currency is empty")
    net = _money(path, line, row, "Net Credit (NC)", currency) - _money(path, line, row, "Net Debit (NC)", currency)
    fees = sum(_money(path, line, row, c, currency) for c in settings.FEE_COLUMNS if c in row)
    gross_currency = row.get("Gross Currency", "").strip().upper() or currency
    gross_gc = (_money(path, line, row, "Gross Credit (GC)", gross_currency)
                - _money(path, line, row, "Gross Debit (GC)", gross_currency)) if "Gross Credit (GC)" in row else None
    kind = row["Type"].strip()
    if not kind:
        raise ParseError(path, line, "Type is empty")
    fields: dict[str, Any] = {
        "type": kind, "currency": currency, "net": net, "fees": fees, "gross": net + fees,
        "gross_currency": gross_currency, "gross_gc": gross_gc, "batch_number": row["Batch Number"].strip(),
        "merchant_account": row["Merchant Account"].strip(), "psp_reference": row["Psp Reference"].strip(),
        "merchant_reference": row.get("Merchant Reference", "").strip(),
        "modification_reference": row.get("Modification Reference", "").strip(),
        "payment_method": row.get("Payment Method", "").strip(),
        "created": _utc(path, line, row["Creation Date"], row["TimeZone"]),
    }
    if row.get("Booking Date", "").strip():
        fields["booking_date"] = _utc(path, line, row["Booking Date"],
                                      row.get("Booking Date TimeZone", row["TimeZone"]), "Booking Date")
    return fields


def parse_settlement_report(path: str | Path, encoding: str = "utf-8", verify: bool = True) -> list[RawRecord]:
    """Args:
        path: a Settlement Details Report CSV.
        encoding: the file's encoding.
        verify: ``False`` posts a batch whose rows do not net to its payout, with the warning on its rows.
    """
    path = Path(path)
    records = []
    seen: dict[str, int] = {}
    for line, row, problem in iter_csv_rows(path, encoding=encoding, required=settings.REQUIRED_COLUMNS, pad_ragged=True):
        batch = {"batch_number": row["Batch Number"].strip(), "merchant_account": row["Merchant Account"].strip()}
        try:
            if problem:
                raise ParseError(path, line, problem)
            fields = _settlement_fields(path, line, row)
        except ParseError as exc:
            records.append(_unreadable(path, "settlement_details", line, row, str(exc), batch))
            continue
        key = ":".join([fields["merchant_account"], fields["batch_number"], fields["psp_reference"],
                        fields["modification_reference"], fields["type"]])
        seen[key] = seen.get(key, 0) + 1
        object_id = key if seen[key] == 1 else f"{key}:{seen[key]}"
        records.append(RawRecord(source="adyen", stream="settlement_details", object_id=object_id,
                                 cursor_value=fields["created"], raw=row, fields=fields,
                                 record_ref=f"{path}, line {line}"))
    if not records:
        raise ParseError(path, 2, "no rows (empty or header-only report)")
    return _verify_batches(path, records, verify)


def _verify_batches(path: Path, records: list[RawRecord], verify: bool) -> list[RawRecord]:
    """Flag every row of a batch whose rows do not net to its MerchantPayout row(s)."""
    problems: dict[tuple[str, str], dict[str, str]] = {}
    for r in records:
        if r.fields["type"] == UNREADABLE_ROW:
            key = (r.fields.get("merchant_account", ""), r.fields.get("batch_number", ""))
            problems.setdefault(key, {"code": BATCH_INCOMPLETE, "detail": (
                f"{BATCH_INCOMPLETE}: {path}: batch {key[1]} of {key[0]} has a row that cannot be read "
                f"({r.record_ref}); its other rows are held back so the batch is not posted in part")})
    paid_out = {(r.fields["merchant_account"], r.fields["batch_number"], r.fields["currency"])
                for r in records if r.fields["type"] == "MerchantPayout"}
    for (account, batch, currency), t in batch_totals(records).items():
        if (account, batch, currency) not in paid_out or t["net"] + t["payout"] == 0 or (account, batch) in problems:
            continue
        exponent = currency_exponent(currency)
        problems[(account, batch)] = {"code": BATCH_NET_MISMATCH, "detail": (
            f"{BATCH_NET_MISMATCH}: {path}: batch {batch} of {account} ({currency}): the rows net "
            f"{_major(t['net'], exponent)} but the MerchantPayout is {_major(-t['payout'], exponent)} "
            f"(difference {_major(t['net'] + t['payout'], exponent)})")}
    if not problems:
        return records
    out = []
    for r in records:
        flag = problems.get((r.fields.get("merchant_account", ""), r.fields.get("batch_number", "")))
        if flag is None or r.fields["type"] == UNREADABLE_ROW:
            out.append(r)
            continue
        extra = {"quarantine": flag} if verify else {"warnings": [*r.fields.get("warnings", []), flag]}
        out.append(RawRecord(r.source, r.stream, r.object_id, r.cursor_value, r.raw, {**r.fields, **extra},
                             r.record_ref))
    return out


def _major(minor: int, exponent: int) -> str:
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}" if exponent else f"{sign}{digits}"


def batch_totals(records: list[RawRecord]) -> dict[tuple[str, str, str], dict[str, int]]:
    """Per (merchant account, batch, currency): net of the non-payout rows and the MerchantPayout rows'
    net, which must cancel out (net credits - net debits = the payout). Unreadable rows are left out."""
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for r in records:
        f = r.fields
        if f["type"] == UNREADABLE_ROW or r.stream != "settlement_details":
            continue
        key = (f["merchant_account"], f["batch_number"], f["currency"])
        t = out.setdefault(key, {"net": 0, "payout": 0})
        t["payout" if f["type"] == "MerchantPayout" else "net"] += f["net"]
    return out


def parse_payments_accounting_report(path: str | Path, encoding: str = "utf-8") -> list[RawRecord]:
    """The Payments Accounting Report: one record per status change of a payment (landed, not posted)."""
    path = Path(path)
    records = []
    seen: dict[str, int] = {}
    for line, row, problem in iter_csv_rows(path, encoding=encoding, required=settings.PAR_REQUIRED_COLUMNS, pad_ragged=True):
        try:
            if problem:
                raise ParseError(path, line, problem)
            fields = _accounting_fields(path, line, row)
        except ParseError as exc:
            records.append(_unreadable(path, "payments_accounting", line, row, str(exc)))
            continue
        key = ":".join([fields["merchant_account"], fields["psp_reference"], fields["type"],
                        fields["modification_reference"] or "", fields["booked"]])
        seen[key] = seen.get(key, 0) + 1
        records.append(RawRecord(source="adyen", stream="payments_accounting",
                                 object_id=key if seen[key] == 1 else f"{key}:{seen[key]}",
                                 cursor_value=fields["booked"], raw=row, fields=fields,
                                 record_ref=f"{path}, line {line}"))
    if not records:
        raise ParseError(path, 2, "no rows (empty or header-only report)")
    return records


def _accounting_fields(path: Path, line: int, row: dict[str, str]) -> dict[str, Any]:
    kind = row["Record Type"].strip()
    if not kind:
        raise ParseError(path, line, "Record Type is empty")
    pc = row.get("Payment Currency", "").strip().upper()
    sc = row.get("Settlement Currency", "").strip().upper()
    fields: dict[str, Any] = {
        "type": kind, "merchant_account": row["Merchant Account"].strip(),
        "psp_reference": row["Psp Reference"].strip(), "merchant_reference": row.get("Merchant Reference", "").strip(),
        "modification_reference": (row.get("Modification Psp Reference") or row.get("Modification Reference")
                                   or "").strip() or None,
        "payment_method": row.get("Payment Method", "").strip(),
        "booked": _utc(path, line, row["Booking Date"], row["TimeZone"], "Booking Date"),
        "payment_currency": pc or None, "settlement_currency": sc or None,
    }
    for column, name in settings.PAR_PC_COLUMNS.items():
        if row.get(column, "").strip():
            fields[name] = _money(path, line, row, column, pc)
    for column, name in settings.PAR_SC_COLUMNS.items():
        if row.get(column, "").strip():
            fields[name] = _money(path, line, row, column, sc)
    fields["fees"] = sum(fields.get(n, 0) for n in ("commission", "markup", "scheme_fees", "interchange"))
    main = row.get("Main Currency", "").strip().upper()
    if row.get("Main Amount", "").strip():
        fields["main_currency"], fields["main_amount"] = main, _money(path, line, row, "Main Amount", main)
    fee_currency = row.get("Processing Fee Currency", "").strip().upper()
    if row.get("Processing Fee (FC)", "").strip():
        fields["processing_fee_currency"] = fee_currency
        fields["processing_fee"] = _money(path, line, row, "Processing Fee (FC)", fee_currency)
    return fields


def parse_notification(path: str | Path) -> list[RawRecord]:
    """A saved standard notification webhook (``notificationItems``) as records."""
    path = Path(path)
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ParseError(path, exc.lineno, f"malformed JSON (truncated?): {exc.msg}") from None
    items = doc.get("notificationItems") if isinstance(doc, dict) else None
    if items is None and isinstance(doc, dict) and isinstance(doc.get("data"), dict) and doc.get("type"):
        return [_platform_notification(path, doc)]
    if not isinstance(items, list):
        raise ParseError(path, None, "not an Adyen standard notification (no notificationItems)")
    out = []
    for i, wrapper in enumerate(items, start=1):
        item = wrapper.get("NotificationRequestItem") if isinstance(wrapper, dict) else None
        if not isinstance(item, dict) or not item.get("pspReference") or not item.get("eventCode"):
            raise ParseError(path, f"notification item {i}", "lacks NotificationRequestItem pspReference/eventCode")
        amount = item.get("amount") or {}
        value = amount.get("value")
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ParseError(path, f"notification item {i}", f"amount.value {value!r} is not an integer")
        fields = {
            "type": item["eventCode"], "success": str(item.get("success")).lower() == "true",
            "amount": value, "currency": (amount.get("currency") or "").upper() or None,
            "psp_reference": item["pspReference"], "original_reference": item.get("originalReference"),
            "merchant_reference": item.get("merchantReference"),
            "merchant_account": item.get("merchantAccountCode"),
            "created": datetime.fromisoformat(item["eventDate"]).astimezone(UTC).isoformat()
            if item.get("eventDate") else None,
        }
        object_id = f"{item['pspReference']}:{item['eventCode']}:{fields['success']}"
        out.append(RawRecord(source="adyen", stream="notifications", object_id=object_id,
                             cursor_value=fields["created"], raw=item, fields=fields,
                             record_ref=f"{path}, notification item {i}"))
    return out


def _platform_notification(path: Path, doc: dict[str, Any]) -> RawRecord:
    """A balance platform / configuration webhook (``{"type": ..., "data": {...}}``): landed as is."""
    data = doc["data"]
    inner = next((v for v in data.values() if isinstance(v, dict) and v.get("id")), {})
    object_id = data.get("id") or inner.get("id")
    if not object_id:
        raise ParseError(path, None, "platform webhook without an object id in data")
    return RawRecord(source="adyen", stream="platform_notifications", object_id=f"{doc['type']}:{object_id}",
                     cursor_value=None, raw=doc, fields={"type": doc["type"], "object": object_id},
                     record_ref=str(path))


def parse_file(path: Path, **options: Any) -> list[RawRecord]:
    """A Settlement Details Report or a Payments Accounting Report (.csv, told apart by their header) or a
    saved notification webhook (.json). Options: ``encoding``; ``verify=False`` (settlement reports)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        encoding = options.get("encoding", "utf-8")
        with path.open("rb") as f:  # the header tells the report; the parser then reads the file strictly
            header = f.readline().decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
        names = [h.strip() for h in next(csv.reader([header]), [])]
        if "Record Type" in names and "Batch Number" not in names:
            return parse_payments_accounting_report(path, encoding)
        return parse_settlement_report(path, encoding, verify=options.get("verify", True) is not False)
    return parse_notification(path)


def make_client(base_url: str | None = None, *, api_key: str | None = None, merchant_account: str | None = None,
                **client_options: Any) -> HttpClient:
    """A client for Adyen's report download endpoint of one merchant account.

    Args:
        base_url: default ``$ADYEN_REPORT_BASE_URL`` or ``https://ca-live.adyen.com``; a local URL in tests.
        api_key: the report user's API key, default ``$ADYEN_REPORT_API_KEY`` (sent as ``X-API-Key``).
        merchant_account: default ``$ADYEN_MERCHANT_ACCOUNT`` (required).
        client_options: passed to ``HttpClient``.
    """
    merchant = merchant_account or os.environ.get(settings.ENV_MERCHANT_ACCOUNT)
    if not merchant:
        raise ValueError(f"Adyen report download needs the merchant account: ${settings.ENV_MERCHANT_ACCOUNT}")
    key = api_key or os.environ.get(settings.ENV_API_KEY)
    root = (base_url or os.environ.get(settings.ENV_BASE_URL) or settings.REPORT_BASE_URL).rstrip("/")
    return HttpClient(root + settings.REPORT_DOWNLOAD_PATH.format(merchant_account=quote(merchant, safe="")),
                      headers={"X-API-Key": key} if key else {}, **client_options)


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with ``old`` replaced by ``new`` in every string it holds."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def download_settlement_batch(client: HttpClient, batch: int, verify: bool = True) -> list[RawRecord] | None:
    """The records of one batch's Settlement Details Report, or ``None`` when Adyen has no such report (404).

    The report is read by ``parse_settlement_report`` (from a temporary file); its records and errors name
    the report's URL instead of that file."""
    name = settings.SETTLEMENT_REPORT_FILE.format(batch=batch)
    try:
        data = client.get_bytes(name)
    except SourceError as exc:
        if exc.status == 404:
            return None
        raise
    url = f"{client.base_url}/{name}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            records = parse_settlement_report(path, verify=verify)
        except ParseError as exc:
            raise ParseError(url, exc.location, exc.message) from None
    local = str(path)
    return [replace(r, record_ref=_renamed(r.record_ref, local, url), fields=_renamed(r.fields, local, url))
            for r in records]


def extract_settlement_details(client: HttpClient, cursor: str | None = None, *,
                               max_batches: int = settings.MAX_BATCHES_PER_RUN) -> ExtractResult:
    """Settlement Details Reports of the batches after ``cursor``, in order, until one is not there (404).

    Args:
        client: from ``make_client``.
        cursor: the last batch number downloaded, or ``None`` (start at ``$ADYEN_FIRST_BATCH``, default 1).
        max_batches: batches downloaded in one run at most.
    """
    batch = int(cursor) + 1 if cursor else int(os.environ.get(settings.ENV_FIRST_BATCH) or 1)
    records: list[RawRecord] = []
    last = cursor
    for _ in range(max_batches):
        got = download_settlement_batch(client, batch)
        if got is None:
            break
        records.extend(got)
        last = str(batch)
        batch += 1
    return ExtractResult(records, last)
