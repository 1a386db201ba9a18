"""Lithic paging and parsing: card transactions to hold versions and settlements, payments, transfers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from connectors.common.cursors import format_instant, parse_instant
from connectors.common.errors import ParseError
from connectors.common.paging import Paging, after_last, data_items
from connectors.common.records import RawRecord
from connectors.lithic import settings

_PAGING = Paging(settings.SOURCE, "page_size", "starting_after", data_items, after_last("token"))


def list_pages(get: Callable[[dict], Any], params: dict, page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of a list endpoint: ``starting_after`` the last token while ``has_more``."""
    return _PAGING.pages(get, params, page_size)


def _int(value: Any, where: str) -> int:
    """Lithic amounts are integers of minor units already."""
    if isinstance(value, bool) or value is None:
        raise ParseError(settings.SOURCE, where, f"amount {value!r} is not an integer")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ParseError(settings.SOURCE, where, f"amount {value} is not an integer of minor units")
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.lstrip("-").isdigit():
        raise ParseError(settings.SOURCE, where, f"amount {value!r} is not an integer of minor units")
    return int(text)


def _iso(value: str | None) -> str | None:
    return format_instant(parse_instant(value)) if value else None


def card_transaction_records(tx: dict) -> list[RawRecord]:
    """A card transaction as one record per settling event (``card_settlement`` for a clearing, which posts
    the hold it clears; ``card_clearing`` for other debits; ``card_refund`` for credits) followed by one
    ``card_hold`` record (the current authorization hold).

    The hold record carries ``hold_amount``: Lithic's own ``amounts.hold`` (what is still held), so
    incremental authorizations, partial reversals and expiry need no arithmetic here; ``version_id`` is
    the latest event's token, so the same state read again is recognised.
    """
    token = tx.get("token")
    where = f"card transaction {token}"
    if not token:
        raise ParseError(settings.SOURCE, where, "transaction without token")
    events = sorted(tx.get("events") or [], key=lambda e: (e.get("created") or "", e.get("token") or ""))
    amounts = tx.get("amounts") or {}
    hold = amounts.get("hold") or {}
    currency = (hold.get("currency") or (amounts.get("settlement") or {}).get("currency")
                or tx.get("merchant_currency") or "USD").upper()
    status = str(tx.get("status") or "").upper()
    if hold.get("amount") is not None:
        hold_amount = abs(_int(hold["amount"], where))
    else:  # older API versions: what is authorised and not settled, while the transaction is pending
        hold_amount = max(abs(_int(tx.get("amount") or 0, where)) - abs(_int(tx.get("settled_amount") or 0, where)),
                          0) if status == "PENDING" else 0
    if status in ("VOIDED", "EXPIRED", "DECLINED", "SETTLED"):
        hold_amount = 0 if status != "SETTLED" else hold_amount
    common = {"card_token": tx.get("card_token"), "account_token": tx.get("account_token"),
              "financial_account_token": tx.get("financial_account_token"),
              "merchant": (tx.get("merchant") or {}).get("descriptor"), "transaction_token": token,
              "currency": currency, "reverses_object_id": None, "action": "post"}
    last_event = events[-1] if events else {}
    updated = _iso(tx.get("updated") or tx.get("created"))
    hold_record = RawRecord(
        settings.SOURCE, "card_transactions", f"{token}:hold", updated,
        {k: tx.get(k) for k in ("token", "status", "amounts", "authorization_amount", "settled_amount",
                                "created", "updated", "card_token", "result")} | {
            "event_tokens": [e.get("token") for e in events]},
        {**common, "type": "card_hold", "hold_id": token, "version_id": last_event.get("token") or token,
         "hold_amount": hold_amount, "lithic_status": status, "amount": hold_amount,
         "effective_at": _iso(last_event.get("created") or tx.get("created"))},
        record_ref=f"{where} hold")
    records = []
    for event in events:
        kind = str(event.get("type") or "").upper()
        if kind not in settings.SETTLING_EVENTS or str(event.get("result") or "APPROVED") != "APPROVED":
            continue
        ev_where = f"{where} event {event.get('token')}"
        settlement = ((event.get("amounts") or {}).get("settlement") or {})
        amount = settlement.get("amount") if settlement.get("amount") is not None else event.get("amount")
        amount = abs(_int(amount, ev_where))
        polarity = str(event.get("effective_polarity") or "").upper()
        credit = polarity == "CREDIT" if polarity else kind in settings.CREDIT_EVENTS
        records.append(RawRecord(
            settings.SOURCE, "card_transactions", f"{token}:{event.get('token')}", updated,
            {"transaction_token": token, "event": event},
            {**common, "type": "card_refund" if credit else ("card_settlement" if kind == "CLEARING" else "card_clearing"),
             "event_type": kind, "hold_id": token, "settles_hold": token if kind == "CLEARING" and not credit else None,
             "amount": amount,
             "currency": (settlement.get("currency") or currency).upper(),
             "effective_at": _iso(event.get("created"))},
            record_ref=ev_where))
    # Settlements first: a clearing of exactly what is held posts the hold before the hold record
    # (now 0) would archive it.
    return [*records, hold_record]


_PAYMENT_STATUS = {"PENDING": "pending", "SETTLED": "posted", "DECLINED": "archived", "VOIDED": "archived"}


def payment_record(payment: dict) -> RawRecord:
    """An ACH payment: pending until settled; declined ones archive; a return after settlement reverses."""
    token = payment.get("token")
    where = f"payment {token}"
    status = str(payment.get("status") or "").upper()
    settled = _int(payment.get("settled_amount") or 0, where)
    pending = _int(payment.get("pending_amount") or 0, where)
    amount = abs(settled) if status == "SETTLED" else abs(pending or settled)
    if not amount:  # declined or returned: the amount is in the first event
        amount = max((abs(_int(e.get("amount") or 0, where)) for e in payment.get("events") or []), default=0)
    direction = str(payment.get("direction") or "").lower()
    fields: dict[str, Any] = {
        "type": f"payment_{direction}" if direction else "payment", "payment_type": payment.get("type"),
        "method": payment.get("method"), "lithic_status": status, "status": _PAYMENT_STATUS.get(status, "pending"),
        "amount": amount, "currency": str(payment.get("currency") or "USD").upper(),
        "financial_account_token": payment.get("financial_account_token"),
        # receipts initiated by another bank name no external account of ours
        "external_bank_account_token": payment.get("external_bank_account_token") or "unlinked",
        "effective_at": _iso(payment.get("created")), "updated_at": _iso(payment.get("updated")),
        "action": "post", "reverses_object_id": None,
    }
    if status == "RETURNED":
        fields.update(type="reversal", action="reverse", reason="returned", reverses_object_id=token)
        return RawRecord(settings.SOURCE, "payments", f"{token}:return", fields["updated_at"], payment, fields,
                         record_ref=where)
    return RawRecord(settings.SOURCE, "payments", str(token), fields["updated_at"], payment, fields, record_ref=where)


def book_transfer_record(transfer: dict) -> RawRecord:
    token = transfer.get("token")
    where = f"book transfer {token}"
    status = str(transfer.get("status") or "").upper()
    amount = abs(_int(transfer.get("settled_amount") or transfer.get("pending_amount") or 0, where))
    if not amount:
        amount = sum(abs(_int(e.get("amount") or 0, where)) for e in transfer.get("events") or [])
    fields = {"type": "book_transfer", "category": transfer.get("category"), "lithic_status": status,
              "status": _PAYMENT_STATUS.get(status, "pending"), "amount": amount,
              "currency": str(transfer.get("currency") or "USD").upper(),
              "from_account": transfer.get("from_financial_account_token"),
              "to_account": transfer.get("to_financial_account_token"),
              "effective_at": _iso(transfer.get("created")), "updated_at": _iso(transfer.get("updated")),
              "action": "post", "reverses_object_id": None}
    return RawRecord(settings.SOURCE, "book_transfers", str(token), fields["updated_at"], transfer, fields,
                     record_ref=where)


def balance_record(balance: dict) -> RawRecord:
    """A financial account balance (landed for reconciliation, not posted)."""
    where = f"balance {balance.get('token')}"
    fields = {"type": "balance", "account_type": balance.get("type"),
              "currency": str(balance.get("currency") or "USD").upper(),
              "available_amount": _int(balance.get("available_amount") or 0, where),
              "pending_amount": _int(balance.get("pending_amount") or 0, where),
              "total_amount": _int(balance.get("total_amount") or 0, where),
              "as_of": _iso(balance.get("updated")), "action": "post", "reverses_object_id": None}
    object_id = f"{balance.get('token')}:{fields['currency']}:{fields['as_of']}"
    return RawRecord(settings.SOURCE, "balances", object_id, fields["as_of"], balance, fields, record_ref=where)
