"""Marqeta: card transactions (authorisation, incremental, reversal, expiry, clearing, refunds,
chargebacks) from ``GET /transactions`` and from ``transactions`` webhooks.

Every Marqeta transaction is its own object linked to the original authorisation by
``preceding_related_transaction_token``. Authorisation events adjust a *hold* (a pending ledger
transaction, versioned as the held amount changes); clearings, refunds and chargebacks post. See
``docs/connectors-erp-cards-lending-billing.md``.
"""

from __future__ import annotations

import os

from connectors.common.amounts import load_json_file, unwrap_recorded
from connectors.common.cursors import advance, window_start
from connectors.common.errors import ParseError
from connectors.common.http import HttpClient
from connectors.common.records import ExtractResult, RawRecord
from connectors.marqeta import helpers, settings

__all__ = ["extract_transactions", "make_client", "parse_file", "parse_webhook"]


def make_client(base_url: str | None = None, *, application_token: str | None = None,
                access_token: str | None = None, **client_options) -> HttpClient:
    """An ``HttpClient`` with basic auth (application token, admin access token).

    Args:
        base_url: default ``$MARQETA_BASE_URL`` or production (``.../v3``); a local URL in tests.
        application_token: default ``$MARQETA_APPLICATION_TOKEN``.
        access_token: default ``$MARQETA_ACCESS_TOKEN``.
        client_options: passed to ``HttpClient``.
    """
    app = application_token or os.environ.get(settings.ENV_APP_TOKEN)
    secret = access_token or os.environ.get(settings.ENV_ACCESS_TOKEN)
    auth = (app, secret or "") if app else None
    return HttpClient(base_url or os.environ.get(settings.ENV_BASE_URL) or settings.BASE_URL, auth=auth,
                      headers={"Accept": "application/json"}, decimal_floats=True, **client_options)


def extract_transactions(client: HttpClient, cursor: str | None = None,
                         page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    """Transactions created since ``cursor`` minus the lookback, oldest first.

    Args:
        client: from ``make_client``.
        cursor: the latest ``created_time`` of the previous run, or ``None``.
        page_size: ``count`` per page.
    """
    since = window_start(cursor, settings.LOOKBACK)
    params: dict = {"sort_by": settings.SORT}
    if since is not None:
        params["start_date"] = since.strftime("%Y-%m-%d")  # the API filters by day (yyyy-MM-dd)
    records: list[RawRecord] = []
    for page in helpers.transaction_pages(lambda q: client.get_json(settings.TRANSACTIONS_PATH, params=q),
                                          params, page_size):
        records.extend(helpers.transaction_record(tx) for tx in page)
    return ExtractResult(records, advance(cursor, (r.cursor_value for r in records)))


def parse_webhook(payload: dict) -> list[RawRecord]:
    """Records from a ``transactions`` webhook delivery (``{"transactions": [...]}``).

    Args:
        payload: the delivery body, parsed with ``Decimal`` floats.
    """
    return [helpers.transaction_record(tx) for tx in payload.get("transactions") or []]


def parse_file(path, **options) -> list[RawRecord]:
    """Records of a saved ``transactions`` webhook delivery, a ``GET /transactions`` page, or a JSON array
    of transactions.

    Args:
        path: the JSON file.
        options: unused.
    """
    body = unwrap_recorded(load_json_file(path))
    if isinstance(body, dict) and "transactions" in body:
        return parse_webhook(body)
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return [helpers.transaction_record(tx) for tx in body["data"]]
    if isinstance(body, list):
        return [helpers.transaction_record(tx) for tx in body]
    raise ParseError(path, None, "expected a transactions webhook, a list page or an array of transactions")
