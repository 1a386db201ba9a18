"""Adyen: the Settlement Details Report (CSV, one file per settlement batch; columns read by header name
because their order differs between report versions) and standard notification webhooks (JSON, as saved
deliveries).

Report rows become records of stream ``settlement_details`` with, in the NET currency (the currency the
batch settles in): ``net`` = Net Credit - Net Debit, ``fees`` = Commission + Markup + Scheme Fees +
Interchange, ``gross`` = net + fees, all signed integers of minor units; ``type`` is the row's Type
(Settled, Refunded, Chargeback, ChargebackReversed, Fee, MerchantPayout, ...). The gross in the gross
currency is kept as ``gross_gc``/``gross_currency`` for reference (it cannot be posted beside NC amounts
when the currencies differ). Creation times are converted from the row's TimeZone to UTC.

Webhooks become records of stream ``notifications`` (``type`` = eventCode); they are landed, not posted
(settlement rows carry the money; see ledger_pipeline/ingest/mappings/adyen.yaml).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connectors.adyen import settings
from connectors.common.errors import ParseError
from connectors.common.files import NumberFormat, amount_to_minor, iter_csv, read_text
from connectors.common.records import RawRecord
from ledger_common.money import currency_exponent

_PLAIN = NumberFormat(".", None)


def _money(path: Path, line: int, row: dict[str, str], column: str, currency: str) -> int:
    text = row.get(column, "").strip()
    if not text:
        return 0
    try:
        return amount_to_minor(text, currency_exponent(currency), _PLAIN)
    except ValueError as exc:
        raise ParseError(path, line, f"column {column!r}: {exc}") from None


def _utc(path: Path, line: int, local: str, zone: str) -> str:
    try:
        naive = datetime.strptime(local.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ParseError(path, line, f"Creation Date {local!r} is not YYYY-MM-DD HH:MM:SS") from None
    name = settings.TIMEZONES.get(zone.strip().upper(), zone.strip())
    try:
        tz = ZoneInfo(name)
    except Exception:
        raise ParseError(path, line, f"unknown TimeZone {zone!r}") from None
    return naive.replace(tzinfo=tz).astimezone(UTC).isoformat()


def parse_settlement_report(path: str | Path, encoding: str = "utf-8") -> list[RawRecord]:
    path = Path(path)
    records = []
    seen: dict[str, int] = {}
    for line, row in iter_csv(path, encoding=encoding, required=settings.REQUIRED_COLUMNS):
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
        batch = row["Batch Number"].strip()
        key = ":".join([row["Merchant Account"].strip(), batch, row["Psp Reference"].strip(),
                        row.get("Modification Reference", "").strip(), kind])
        seen[key] = seen.get(key, 0) + 1
        object_id = key if seen[key] == 1 else f"{key}:{seen[key]}"
        fields: dict[str, Any] = {
            "type": kind, "currency": currency, "net": net, "fees": fees, "gross": net + fees,
            "gross_currency": gross_currency, "gross_gc": gross_gc, "batch_number": batch,
            "merchant_account": row["Merchant Account"].strip(), "psp_reference": row["Psp Reference"].strip(),
            "merchant_reference": row.get("Merchant Reference", "").strip(),
            "modification_reference": row.get("Modification Reference", "").strip(),
            "payment_method": row.get("Payment Method", "").strip(),
            "created": _utc(path, line, row["Creation Date"], row["TimeZone"]),
        }
        if row.get("Booking Date", "").strip():
            fields["booking_date"] = _utc(path, line, row["Booking Date"],
                                          row.get("Booking Date TimeZone", row["TimeZone"]))
        records.append(RawRecord(source="adyen", stream="settlement_details", object_id=object_id,
                                 cursor_value=fields["created"], raw=row, fields=fields,
                                 record_ref=f"{path}, line {line}"))
    if not records:
        raise ParseError(path, 2, "no rows (empty or header-only report)")
    return records


def batch_totals(records: list[RawRecord]) -> dict[tuple[str, str, str], dict[str, int]]:
    """Per (merchant account, batch, currency): net of the non-payout rows and the MerchantPayout rows'
    net, which must cancel out (net credits - net debits = the payout)."""
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for r in records:
        f = r.fields
        key = (f["merchant_account"], f["batch_number"], f["currency"])
        t = out.setdefault(key, {"net": 0, "payout": 0})
        t["payout" if f["type"] == "MerchantPayout" else "net"] += f["net"]
    return out


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
    """A Settlement Details Report (.csv) or a saved notification webhook (.json)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return parse_settlement_report(path, **options)
    return parse_notification(path)
