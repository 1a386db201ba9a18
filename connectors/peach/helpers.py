"""Peach paging and parsing: loans (disbursements), transactions (payments, credits), fees."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from connectors.common.amounts import minor_units
from connectors.common.cursors import format_instant, parse_instant
from connectors.common.errors import ParseError
from connectors.common.paging import Paging
from connectors.common.records import RawRecord
from connectors.peach import settings


def list_pages(get: Callable[[dict], Any], params: dict, page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of a list endpoint: ``startingAfter`` the last id until a page is short (or ``nextUrl`` is
    null when the response has it)."""

    def following(body: dict, items: list, _after: Any) -> Any:
        more = body["nextUrl"] is not None if "nextUrl" in body else len(items) >= page_size
        return items[-1]["id"] if items and more else None

    paging = Paging(settings.SOURCE, "limit", "startingAfter",
                    items=lambda body: body["data"] if isinstance(body.get("data"), list) else None,
                    following=following, missing="response has no data list")
    return paging.pages(get, params, page_size)


def _iso(value: str | None) -> str | None:
    if not value:
        return None
    text = str(value)
    return format_instant(parse_instant(text if "T" in text else f"{text}T00:00:00+00:00"))


def _minor(value: Any, currency: str, where: str) -> int:
    try:
        return minor_units(value, currency) or 0
    except ValueError as exc:
        raise ParseError(settings.SOURCE, where, str(exc)) from exc


def _undo(stream: str, object_id: str, obj: dict, reason: str, updated: str | None, loan_id: str) -> RawRecord:
    fields = {"type": "reversal", "action": "reverse", "reason": reason, "reverses_object_id": object_id,
              "loan_id": loan_id, "updated_at": updated}
    return RawRecord(settings.SOURCE, stream, f"{object_id}:{reason}", updated, obj, fields,
                     record_ref=f"{stream} {object_id} ({reason})")


def _state(stream: str, kind: str, obj: dict, loan_id: str, default_status: str,
           undone: Collection[str]) -> tuple[RawRecord | None, str, str, str | None, str]:
    """``(reversal, where, status, updated, object_id)`` of a transaction or fee; ``reversal`` is set when
    the object was deleted or its status undoes it."""
    oid = str(obj.get("id"))
    status = str(obj.get("status") or default_status)
    updated = _iso(obj.get("updatedAt") or obj.get("createdAt"))
    object_id = f"{kind}:{oid}"
    reversal = None
    if obj.get("deletedAt"):
        reversal = _undo(stream, object_id, obj, "deleted", updated, loan_id)
    elif status in undone:
        reversal = _undo(stream, object_id, obj, status, updated, loan_id)
    return reversal, f"{kind} {oid}", status, updated, object_id


def loan_record(loan: dict, currency: str = "USD") -> RawRecord | None:
    """An activated loan's disbursement (``atOrigination.amountFinanced``); pending or declined loans give
    nothing."""
    status = str(loan.get("status") or "")
    if status in ("pending", "declined", "canceled", "originated", ""):
        return None
    at_origination = loan.get("atOrigination") or {}
    where = f"loan {loan.get('id')}"
    amount = _minor(at_origination.get("amountFinanced"), currency, where)
    if not amount:
        return None
    fields = {"type": "loan_disbursement", "loan_id": str(loan.get("id")), "person_id": loan.get("mainBorrowerId"),
              "amount": amount, "currency": currency,
              "effective_at": _iso(loan.get("activatedAt") or at_origination.get("originationDate")
                                   or loan.get("createdAt")),
              "updated_at": _iso(loan.get("updatedAt")), "status": "posted", "action": "post",
              "reverses_object_id": None}
    return RawRecord(settings.SOURCE, "transactions", f"disbursement:{loan.get('id')}", fields["updated_at"],
                     {k: loan.get(k) for k in ("id", "status", "atOrigination", "activatedAt", "mainBorrowerId",
                                               "createdAt", "updatedAt")}, fields, record_ref=where)


def transaction_record(tx: dict, loan_id: str, currency: str = "USD") -> RawRecord:
    """A payment (money from the borrower) or a service credit (an adjustment that lowers the balance)."""
    reversal, where, status, updated, object_id = _state("transactions", "transaction", tx, loan_id, "",
                                                         settings.UNDONE)
    if reversal is not None:
        return reversal
    kind = str(tx.get("transactionType") or tx.get("type") or "payment")
    record_type = "loan_credit" if kind in settings.CREDIT_TYPES else "loan_payment"
    if status in settings.NOT_YET:
        record_type += "_scheduled"
    fields = {"type": record_type, "peach_type": kind, "peach_status": status, "loan_id": loan_id,
              "transaction_id": str(tx.get("id")), "external_id": tx.get("externalId"),
              "status": settings.TRANSACTION_STATUS.get(status, "pending"),
              "amount": _minor(tx.get("actualAmount") if tx.get("actualAmount") is not None else tx.get("amount"),
                               currency, where),
              "currency": currency, "is_external": bool(tx.get("isExternal")),
              "payment_method": (tx.get("paymentDetails") or {}).get("type") or "unknown",
              "effective_at": _iso(tx.get("effectiveDate") or tx.get("createdAt")), "updated_at": updated,
              "action": "post", "reverses_object_id": None}
    return RawRecord(settings.SOURCE, "transactions", object_id, updated, tx, fields, record_ref=where)


def fee_record(fee: dict, loan_id: str, currency: str = "USD") -> RawRecord:
    """A fee charged to the loan (origination, late, NSF, modification...); canceled or waived fees undo."""
    reversal, where, status, updated, object_id = _state("fees", "fee", fee, loan_id, "booked", settings.FEE_UNDONE)
    if reversal is not None:
        return reversal
    amount = next((fee.get(k) for k in ("amount", "feeAmount", "originalAmount") if fee.get(k) is not None), None)
    fields = {"type": "loan_fee", "loan_id": loan_id, "fee_id": str(fee.get("id")),
              "fee_type": fee.get("feeType") or fee.get("type") or fee.get("displayName") or "fee",
              "amount": _minor(amount, currency, where), "currency": currency, "peach_status": status,
              "effective_at": _iso(fee.get("chargedAt") or fee.get("effectiveDate") or fee.get("createdAt")),
              "updated_at": updated, "status": "posted", "action": "post", "reverses_object_id": None}
    return RawRecord(settings.SOURCE, "fees", object_id, updated, fee, fields, record_ref=where)
