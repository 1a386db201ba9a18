"""Lithic: card transactions with their events, ACH payments, book transfers and balances.

Card transactions become a *hold* (pending ledger transaction, versioned as the authorised amount moves)
plus posted settlements; see ``docs/connectors-erp-cards-lending-billing.md`` for the lifecycle. List endpoints are paged with
``starting_after``; the cursor is the latest ``created`` seen and every run re-reads a lookback window,
and from the oldest object still ``PENDING``, because objects keep changing after they are created.
"""

from __future__ import annotations

from collections.abc import Callable

from connectors.common.amounts import json_objects
from connectors.common.cursors import advance, revisit_cursor, revisit_start
from connectors.common.http import HttpClient, api_key_client
from connectors.common.records import ExtractResult, RawRecord
from connectors.common.streams import stream_extractor
from connectors.lithic import helpers, settings

__all__ = ["extract_balances", "extract_book_transfers", "extract_card_transactions", "extract_payments",
           "make_client", "parse_file", "parse_webhook"]


make_client = api_key_client("Lithic", "Authorization", env_base_url=settings.ENV_BASE_URL,
                             default_base_url=settings.BASE_URL, env_api_key=settings.ENV_API_KEY)


def _extract(client: HttpClient, cursor: str | None, path: str,
             parse: Callable[[dict], list[RawRecord]], page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    since = revisit_start(cursor, settings.LOOKBACK)
    params = {} if since is None else {"begin": since.strftime("%Y-%m-%dT%H:%M:%SZ")}
    records: list[RawRecord] = []
    newest, still_open = [], []
    for page in helpers.list_pages(lambda q: client.get_json(path, params=q), params, page_size):
        for obj in page:
            records.extend(parse(obj))
            newest.append(obj.get("created"))
            if str(obj.get("status") or "").upper() in settings.OPEN_STATUSES:
                still_open.append(obj.get("created"))
    return ExtractResult(records, revisit_cursor(cursor, newest, still_open))


_ARGS = """

    Args:
        client: from ``make_client``.
        cursor: the latest ``created`` of the previous run, or ``None``.
        page_size: items per page (at most 100).
    """

extract_card_transactions = stream_extractor(
    "card_transactions", _extract,
    "Card transactions created since ``cursor`` minus the lookback, with all their events." + _ARGS,
    path=settings.TRANSACTIONS_PATH, parse=helpers.card_transaction_records)
extract_payments = stream_extractor(
    "payments", _extract, "ACH payments (origination credits and debits, receipts)." + _ARGS,
    path=settings.PAYMENTS_PATH, parse=lambda p: [helpers.payment_record(p)])
extract_book_transfers = stream_extractor(
    "book_transfers", _extract, "Book transfers between financial accounts." + _ARGS,
    path=settings.BOOK_TRANSFERS_PATH, parse=lambda t: [helpers.book_transfer_record(t)])


def extract_balances(client: HttpClient, cursor: str | None = None) -> ExtractResult:
    """Current balances of every financial account (a snapshot; landed for reconciliation).

    Args:
        client: from ``make_client``.
        cursor: unused (balances are a snapshot); kept for the stream contract.
    """
    body = client.get_json(settings.BALANCES_PATH)
    records = [helpers.balance_record(b) for b in (body.get("data") or [])]
    return ExtractResult(records, advance(cursor, (r.cursor_value for r in records)))


def parse_webhook(payload: dict) -> list[RawRecord]:
    """Records from one webhook delivery (``card_transaction.*``/``payment_transaction.*``/
    ``book_transfer_transaction.*``/``balance.updated``, or a bare transaction object).

    Args:
        payload: the delivery body, parsed with ``Decimal`` floats.
    """
    family = str(payload.get("family") or "").upper()
    event_type = str(payload.get("event_type") or "")
    if event_type.startswith("balance") or ("data" in payload and isinstance(payload["data"], list)):
        return [helpers.balance_record(b) for b in payload.get("data") or []]
    if family == "PAYMENT" or event_type.startswith("payment_transaction"):
        return [helpers.payment_record(payload)]
    if family == "TRANSFER" or event_type.startswith("book_transfer"):
        return [helpers.book_transfer_record(payload)]
    return helpers.card_transaction_records(payload)


def parse_file(path, **options) -> list[RawRecord]:
    """Records of a saved webhook delivery, a list response (``{"data": [...]}``), or a JSON array of either.

    Args:
        path: the JSON file.
        options: unused.
    """
    records: list[RawRecord] = []
    for item in json_objects(path):
        if isinstance(item.get("data"), list) and "has_more" in item:
            for obj in item["data"]:
                records.extend(parse_webhook(obj))
        else:
            records.extend(parse_webhook(item))
    return records
