"""Marqeta paging and parsing: each transaction becomes a hold adjustment or a posting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connectors.common.amounts import minor_units
from connectors.common.cursors import format_instant, parse_instant
from connectors.common.errors import ParseError
from connectors.common.paging import Paging, data_items
from connectors.common.records import RawRecord
from connectors.marqeta import settings

_PAGING = Paging(
    settings.SOURCE, "count", "start_index", data_items, start=0, where="page at {}",
    following=lambda body, items, start: int(body.get("end_index", start + len(items) - 1)) + 1
    if body.get("is_more") and items else None)


def transaction_pages(get: Callable[[dict], Any], params: dict,
                      page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of ``GET /transactions``: ``start_index`` advances by ``count`` while ``is_more``."""
    return _PAGING.pages(get, params, page_size)


def _iso(value: str | None) -> str | None:
    return format_instant(parse_instant(value)) if value else None


def transaction_record(tx: dict) -> RawRecord:
    """One Marqeta transaction as a raw record.

    ``type`` is ``card_hold`` (with ``hold_op`` and ``hold_amount``/``hold_delta``) for authorisation
    events, ``card_settlement`` for a clearing (it posts the hold it clears), ``card_clearing``/``card_refund``
    for other postings, or
    ``marqeta_other`` (declined, funding and other types: landed, not ledgered).
    """
    token = tx.get("token")
    where = f"transaction {token}"
    if not token:
        raise ParseError(settings.SOURCE, where, "transaction without token")
    kind = str(tx.get("type") or "")
    state = str(tx.get("state") or "").upper()
    currency = str(tx.get("currency_code") or "").upper()
    if not currency and tx.get("amount") not in (None, ""):
        raise ParseError(settings.SOURCE, where, "amount without currency_code (the currency is never assumed)")
    try:
        amount = minor_units(tx.get("amount"), currency)
    except ValueError as exc:
        raise ParseError(settings.SOURCE, where, str(exc)) from exc
    root = tx.get("preceding_related_transaction_token") or token
    created = _iso(tx.get("created_time") or tx.get("user_transaction_time"))
    fields: dict[str, Any] = {
        "type": "marqeta_other", "marqeta_type": kind, "state": state, "amount": amount, "currency": currency,
        "card_token": tx.get("card_token"), "user_token": tx.get("user_token"),
        "merchant": (tx.get("card_acceptor") or {}).get("name"), "effective_at": created,
        "hold_id": root, "version_id": token, "action": "post", "reverses_object_id": None,
        "settles_hold": None,
    }
    if state in settings.LIVE_STATES and kind in settings.HOLD_OPS:
        op = settings.HOLD_OPS[kind]
        fields.update(type="card_hold", hold_op=op)
        if op == "open":
            fields["hold_id"] = token
            fields["hold_delta"] = amount
        elif op == "add":
            fields["hold_delta"] = amount
        elif op == "subtract":
            fields["hold_delta"] = -(amount or 0)
        elif op == "set":
            fields["hold_amount"] = amount
        else:
            fields["hold_amount"] = 0
    elif state in settings.LIVE_STATES and kind in settings.POSTINGS:
        fields["type"] = settings.POSTINGS[kind]
        if kind == "authorization.clearing":
            fields.update(type="card_settlement", settles_hold=root)
    return RawRecord(settings.SOURCE, "transactions", str(token), created, tx, fields, record_ref=where)
