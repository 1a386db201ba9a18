"""QuickBooks Online parsing and paging: objects to raw records, query pages, CDC responses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.common.amounts import minor_units
from connectors.common.cursors import format_instant, parse_instant
from connectors.common.errors import ParseError
from connectors.common.records import RawRecord
from connectors.quickbooks import settings


def snake(entity: str) -> str:
    """``JournalEntry`` -> ``journal_entry`` (the record ``type`` the mapping keys on)."""
    out = []
    for i, ch in enumerate(entity):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _ref(obj: dict, key: str) -> str | None:
    ref = obj.get(key)
    return ref.get("value") if isinstance(ref, dict) else None


def _ref_name(obj: dict, key: str) -> str | None:
    ref = obj.get(key)
    return ref.get("name") if isinstance(ref, dict) else None


def _date_iso(value: str | None) -> str | None:
    if not value:
        return None
    return format_instant(parse_instant(value if "T" in value else f"{value}T00:00:00+00:00"))


def is_voided(obj: dict) -> bool:
    """QBO voids a transaction in place: every amount becomes 0 and the private note says ``Voided``."""
    total = obj.get("TotalAmt", obj.get("Amount"))
    note = str(obj.get("PrivateNote") or "")
    return total is not None and Decimal(str(total)) == 0 and note.startswith("Voided")


def journal_lines(obj: dict, currency: str, where: str) -> list[dict[str, Any]]:
    """The debit and credit lines of a JournalEntry, each with its QBO account id and minor-unit amount."""
    lines = []
    for line in obj.get("Line") or []:
        detail = line.get("JournalEntryLineDetail")
        if not detail:
            continue
        posting = str(detail.get("PostingType") or "").lower()
        if posting not in ("debit", "credit"):
            raise ParseError(settings.SOURCE, where, f"journal line {line.get('Id')} has PostingType {posting!r}")
        lines.append({
            "line_id": line.get("Id"),
            "direction": posting,
            "amount": minor_units(line.get("Amount"), currency),
            "account_id": _ref(detail, "AccountRef"),
            "account_name": _ref_name(detail, "AccountRef"),
            "description": line.get("Description"),
            "raw": line,
        })
    return lines


def parse_entity(entity: str, obj: dict, *, from_cdc: bool = False) -> list[RawRecord]:
    """One QBO object (from a query page or a CDC response) as raw records.

    ``fields``: ``type`` (snake-case entity), ``amount`` (TotalAmt, or Amount for a Transfer, in minor
    units), ``tax``/``net`` for sales documents, ``currency``, ``effective_at`` (TxnDate), ``updated_at``
    (MetaData.LastUpdatedTime, the cursor) and QBO account/customer/vendor references.

    A JournalEntry becomes one ``journal_line`` record per line (object id ``JournalEntry:<Id>:line:<n>``,
    ``signed_amount`` positive for a debit, negative for a credit), each posted against a journal clearing
    account that nets to zero over the entry; the mapper posts one balanced transaction per record.

    An object CDC reports ``Deleted``, or one that was voided, becomes one ``reversal`` record
    (``action = reverse``): the lifecycle step reverses the ledger transactions of ``<Entity>:<Id>``.
    """
    qbo_id = obj.get("Id")
    where = f"{entity} {qbo_id}"
    if qbo_id in (None, ""):
        raise ParseError(settings.SOURCE, where, "object without Id")
    object_id = f"{entity}:{qbo_id}"
    stream = snake(entity)
    updated = (obj.get("MetaData") or {}).get("LastUpdatedTime")
    cursor_value = format_instant(parse_instant(updated)) if updated else None
    origin = "cdc" if from_cdc else "query"
    base: dict[str, Any] = {"entity": entity, "qbo_id": str(qbo_id), "updated_at": cursor_value,
                            "reverses_object_id": None, "action": "post", "reason": None}
    if str(obj.get("status") or "") == "Deleted" or is_voided(obj):
        reason = "deleted" if str(obj.get("status") or "") == "Deleted" else "voided"
        base.update(type="reversal", action="reverse", reason=reason, reverses_object_id=object_id)
        return [RawRecord(settings.SOURCE, stream, f"{object_id}:{reason}", cursor_value, obj, base,
                          record_ref=f"{origin} {where} ({reason})")]
    currency = (_ref(obj, "CurrencyRef") or settings.DEFAULT_CURRENCY).upper()
    try:
        amount = minor_units(obj.get("TotalAmt", obj.get("Amount")), currency)
        tax = minor_units((obj.get("TxnTaxDetail") or {}).get("TotalTax"), currency) or 0
        lines = journal_lines(obj, currency, where) if entity == "JournalEntry" else []
    except ValueError as exc:  # AmountError: more precision than the currency allows, not a number
        raise ParseError(settings.SOURCE, where, str(exc)) from exc
    check = obj.get("CheckPayment") or {}
    card = obj.get("CreditCardPayment") or {}
    fields = {
        **base,
        "type": stream,
        "amount": amount,
        "tax": tax,
        "net": None if amount is None else amount - tax,
        "currency": currency,
        "effective_at": _date_iso(obj.get("TxnDate")),
        "doc_number": obj.get("DocNumber"),
        "customer_id": _ref(obj, "CustomerRef"),
        "vendor_id": _ref(obj, "VendorRef"),
        "deposit_account_id": _ref(obj, "DepositToAccountRef") or settings.UNDEPOSITED_FUNDS,
        "from_account_id": _ref(obj, "FromAccountRef"),
        "to_account_id": _ref(obj, "ToAccountRef"),
        "pay_type": obj.get("PayType"),
        "pay_account_id": _ref(check, "BankAccountRef") or _ref(card, "CCAccountRef") or settings.UNSPECIFIED_BANK,
        "status": "posted",
    }
    if entity != "JournalEntry":
        return [RawRecord(settings.SOURCE, stream, object_id, cursor_value, obj, fields,
                          record_ref=f"{origin} {where}")]
    records = []
    for n, line in enumerate(lines, start=1):
        signed = line["amount"] if line["direction"] == "debit" else -line["amount"]
        records.append(RawRecord(
            settings.SOURCE, stream, f"{object_id}:line:{line['line_id'] or n}", cursor_value,
            {"JournalEntry": {k: v for k, v in obj.items() if k != "Line"}, "Line": line["raw"]},
            {**fields, "type": "journal_line", "journal_id": object_id, "line_id": line["line_id"],
             "account_id": line["account_id"], "account_name": line["account_name"], "signed_amount": signed,
             "line_description": line["description"]},
            record_ref=f"{origin} {where} line {line['line_id'] or n}"))
    return records


def build_query(entity: str, since: datetime | None, start_position: int, page_size: int) -> str:
    """The query-language statement for one page, oldest change first so a cut run resumes cleanly."""
    where = ""
    if since is not None:
        where = f" WHERE {settings.CURSOR_FIELD} >= '{format_instant(since)}'"
    return (f"SELECT * FROM {entity}{where} ORDERBY {settings.CURSOR_FIELD} "
            f"STARTPOSITION {int(start_position)} MAXRESULTS {int(page_size)}")


def query_pages(get: Callable[[str], dict], entity: str, since: datetime | None,
                page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of one entity from the query endpoint (``STARTPOSITION`` paging, 1-based) until a short page."""
    start = 1
    while True:
        body = get(build_query(entity, since, start, page_size))
        response = body.get("QueryResponse") if isinstance(body, dict) else None
        if response is None:
            raise ParseError(settings.SOURCE, f"query {entity} at {start}", "response has no QueryResponse")
        items = response.get(entity) or []
        yield items
        if len(items) < page_size:
            return
        start += len(items)


def cdc_objects(body: dict) -> Iterator[tuple[str, dict]]:
    """``(entity, object)`` pairs from a change-data-capture response (deleted objects included)."""
    for block in body.get("CDCResponse") or []:
        for response in block.get("QueryResponse") or []:
            for key, value in response.items():
                if isinstance(value, list):
                    for obj in value:
                        yield key, obj
