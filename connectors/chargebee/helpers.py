"""Chargebee paging and parsing: invoices, transactions and credit notes to raw records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from connectors.chargebee import settings
from connectors.common.cursors import epoch_to_iso
from connectors.common.errors import ParseError
from connectors.common.paging import Paging
from connectors.common.records import RawRecord


def list_pages(get: Callable[[dict], Any], params: dict, key: str,
               page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of a list endpoint: ``offset`` is the previous page's ``next_offset`` until there is none."""
    paging = Paging(settings.SOURCE, "limit", "offset",
                    items=lambda body: [entry[key] for entry in body["list"] if key in entry] if "list" in body
                    else None,
                    following=lambda body, _items, _offset: body.get("next_offset") or None,
                    where="page at offset {}", missing="response has no list")
    return paging.pages(get, params, page_size)


def _int(value: Any, where: str) -> int:
    """Chargebee amounts are integers in the currency's minor unit."""
    if value is None:
        return 0
    if isinstance(value, bool) or (isinstance(value, Decimal) and value != value.to_integral_value()):
        raise ParseError(settings.SOURCE, where, f"amount {value!r} is not an integer of minor units")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ParseError(settings.SOURCE, where, f"amount {value!r} is not an integer of minor units") from None


def _reversal(kind: str, obj: dict, reason: str, updated: str | None) -> RawRecord:
    target = f"{kind}:{obj.get('id')}"
    fields = {"type": "reversal", "action": "reverse", "reason": reason, "reverses_object_id": target,
              "object_kind": kind, "updated_at": updated}
    return RawRecord(settings.SOURCE, f"{kind}s", f"{target}:{reason}", updated, obj, fields,
                     record_ref=f"{kind} {obj.get('id')} ({reason})")


def _common(kind: str, obj: dict) -> dict[str, Any]:
    return {"object_kind": kind, "chargebee_id": str(obj.get("id")), "customer_id": obj.get("customer_id"),
            "subscription_id": obj.get("subscription_id"),
            "currency": str(obj.get("currency_code") or "USD").upper(),
            "effective_at": epoch_to_iso(obj.get("date")), "updated_at": epoch_to_iso(obj.get("updated_at")),
            "status": "posted", "action": "post", "reason": None, "reverses_object_id": None}


def invoice_record(invoice: dict) -> RawRecord:
    """An invoice: receivable = total, revenue = total - tax, tax. Deleted or voided ones reverse; pending
    (not yet closed) invoices are landed only (``invoice_pending``)."""
    where = f"invoice {invoice.get('id')}"
    updated = epoch_to_iso(invoice.get("updated_at"))
    status = str(invoice.get("status") or "")
    if invoice.get("deleted"):
        return _reversal("invoice", invoice, "deleted", updated)
    if status == "voided":
        return _reversal("invoice", invoice, "voided", updated)
    total = _int(invoice.get("total"), where)
    tax = _int(invoice.get("tax"), where)
    fields = {**_common("invoice", invoice), "type": "invoice_pending" if status == "pending" else "invoice",
              "invoice_status": status, "amount": total, "tax": tax, "net": total - tax}
    return RawRecord(settings.SOURCE, "invoices", f"invoice:{invoice.get('id')}", updated, invoice, fields,
                     record_ref=where)


def transaction_record(tx: dict) -> RawRecord:
    """A payment or refund through a gateway (or offline). In progress = pending, success = posted;
    voided, failed, timed out or deleted = undone (a pending one archives, a posted one reverses)."""
    where = f"transaction {tx.get('id')}"
    updated = epoch_to_iso(tx.get("updated_at"))
    status = str(tx.get("status") or "")
    if tx.get("deleted"):
        return _reversal("transaction", tx, "deleted", updated)
    if status in settings.TRANSACTION_UNDONE:
        return _reversal("transaction", tx, status, updated)
    kind = str(tx.get("type") or "payment")
    fields = {**_common("transaction", tx), "type": kind if kind in ("payment", "refund") else f"transaction_{kind}",
              "transaction_status": status, "status": settings.TRANSACTION_STATUS.get(status, "pending"),
              "amount": _int(tx.get("amount"), where), "gateway": tx.get("gateway") or "none",
              "payment_method": tx.get("payment_method")}
    return RawRecord(settings.SOURCE, "transactions", f"transaction:{tx.get('id')}", updated, tx, fields,
                     record_ref=where)


def credit_note_record(note: dict) -> RawRecord:
    """A credit note reduces revenue and tax and what the customer owes (refundable or adjustment)."""
    where = f"credit note {note.get('id')}"
    updated = epoch_to_iso(note.get("updated_at"))
    if note.get("deleted"):
        return _reversal("credit_note", note, "deleted", updated)
    if str(note.get("status") or "") == "voided":
        return _reversal("credit_note", note, "voided", updated)
    total = _int(note.get("total"), where)
    tax = sum(_int(t.get("amount"), where) for t in note.get("taxes") or [])
    fields = {**_common("credit_note", note), "type": "credit_note", "credit_note_type": note.get("type"),
              "reference_invoice_id": note.get("reference_invoice_id"), "amount": total, "tax": tax,
              "net": total - tax}
    return RawRecord(settings.SOURCE, "credit_notes", f"credit_note:{note.get('id')}", updated, note, fields,
                     record_ref=where)


PARSERS: dict[str, Callable[[dict], RawRecord]] = {
    "invoice": invoice_record, "transaction": transaction_record, "credit_note": credit_note_record}


def event_records(event: dict) -> list[RawRecord]:
    """The invoices, transactions and credit notes a webhook event carries (``content``)."""
    content = event.get("content") or {}
    return [PARSERS[key](content[key]) for key in ("invoice", "transaction", "credit_note") if key in content]
