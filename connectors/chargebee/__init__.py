"""Chargebee: invoices, transactions (payments and refunds) and credit notes, from the list API with an
``updated_at`` cursor (deleted objects included) and from webhook events.

Amounts are integers in minor units already. Deleted or voided objects, and transactions that failed or
were voided, become ``reversal`` records: the ingest lifecycle step archives or reverses what was posted.
"""

from __future__ import annotations

import os

from connectors.chargebee import helpers, settings
from connectors.common.amounts import json_objects
from connectors.common.cursors import advance, as_epoch, window_start
from connectors.common.http import HttpClient
from connectors.common.records import ExtractResult, RawRecord
from connectors.common.streams import stream_extractor

__all__ = ["extract_credit_notes", "extract_invoices", "extract_transactions", "make_client", "parse_event",
           "parse_file"]


def make_client(base_url: str | None = None, *, api_key: str | None = None, **client_options) -> HttpClient:
    """An ``HttpClient`` on ``<site>/api/v2`` with basic auth (the API key as user name).

    Args:
        base_url: the site URL (default ``$CHARGEBEE_BASE_URL``); a local URL in tests.
        api_key: default ``$CHARGEBEE_API_KEY``.
        client_options: passed to ``HttpClient``.
    """
    site = base_url or os.environ.get(settings.ENV_SITE_URL)
    if not site:
        raise ValueError(f"Chargebee needs a site URL: --base-url or ${settings.ENV_SITE_URL}")
    key = api_key or os.environ.get(settings.ENV_API_KEY)
    return HttpClient(site.rstrip("/") + settings.API_PREFIX, auth=(key, "") if key else None,
                      headers={"Accept": "application/json"}, decimal_floats=True, **client_options)


def _extract(client: HttpClient, cursor: str | None, stream: str, page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    since = window_start(cursor, settings.LOOKBACK)
    params: dict = {"include_deleted": "true", "sort_by[asc]": "updated_at"}
    if since is not None:
        params["updated_at[after]"] = as_epoch(since)
    key = settings.OBJECT_KEYS[stream]
    records: list[RawRecord] = []
    for page in helpers.list_pages(lambda q: client.get_json(settings.LIST_PATHS[stream], params=q), params, key,
                                   page_size):
        records.extend(helpers.PARSERS[key](obj) for obj in page)
    return ExtractResult(records, advance(cursor, (r.cursor_value for r in records)))


_ARGS = """ updated since ``cursor`` minus the lookback, deleted ones included.

    Args:
        client: from ``make_client``.
        cursor: the latest ``updated_at`` (ISO-8601) of the previous run, or ``None``.
        page_size: ``limit`` per page (at most 100).
    """

extract_invoices = stream_extractor("invoices", _extract, "Invoices" + _ARGS, stream="invoices")
extract_transactions = stream_extractor("transactions", _extract, "Transactions (payments, refunds)" + _ARGS,
                                        stream="transactions")
extract_credit_notes = stream_extractor("credit_notes", _extract, "Credit notes" + _ARGS, stream="credit_notes")


def parse_event(event: dict) -> list[RawRecord]:
    """Records of one webhook event (``invoice_*``, ``payment_*``, ``transaction_*``, ``credit_note_*``...).

    Args:
        event: the event JSON.
    """
    return helpers.event_records(event)


def parse_file(path, **options) -> list[RawRecord]:
    """Records of a saved webhook event, an array of events, or a list response (``{"list": [...]}``) or
    an API response naming ``invoice(s)``/``transaction(s)``/``credit_note(s)``.

    Args:
        path: the JSON file.
        options: unused.
    """
    records: list[RawRecord] = []
    for item in json_objects(path):
        if item.get("object") == "event" or "content" in item:
            records.extend(parse_event(item))
        elif "list" in item:
            for entry in item["list"]:
                records.extend(helpers.PARSERS[k](v) for k, v in entry.items() if k in helpers.PARSERS)
        else:
            for key, parse in helpers.PARSERS.items():
                if isinstance(item.get(key), dict):
                    records.append(parse(item[key]))
                for obj in item.get(f"{key}s") or []:
                    records.append(parse(obj))
    return records
