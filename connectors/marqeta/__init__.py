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


def parse_webhook(payload: dict, path=None, where: str | None = None) -> list[RawRecord]:
    """Records from a ``transactions`` webhook delivery (``{"transactions": [...]}``).

    Args:
        payload: the delivery body, parsed with ``Decimal`` floats.
        path: the file it was read from, named by errors.
        where: the delivery's place in the file (``delivery 3``), named by errors.
    """
    items = payload.get("transactions") or []
    if not isinstance(items, list):
        raise ParseError(path or settings.SOURCE, where, "transactions is not a list")
    return _transactions(items, path, f"{where}, " if where else "")


def _transactions(items: list, path, prefix: str) -> list[RawRecord]:
    out = []
    for i, tx in enumerate(items, start=1):
        at = f"{prefix}transaction {i}"
        if not isinstance(tx, dict):
            raise ParseError(path or settings.SOURCE, at, f"expected an object, got {type(tx).__name__}")
        try:
            out.append(helpers.transaction_record(tx))
        except ParseError as exc:
            if path is None:
                raise
            raise ParseError(path, f"{at} ({tx.get('token') or 'no token'})", exc.message) from None
    return out


def _is_delivery(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("transactions"), list)


def parse_file(path, **options) -> list[RawRecord]:
    """Records of a saved ``transactions`` webhook delivery, a list of deliveries (a JSON array of them, or
    an object holding that array under any key, as webhook log exports do), a ``GET /transactions`` page, or
    a JSON array of transactions. Every error names the file and the delivery and transaction.

    Args:
        path: the JSON file.
        options: unused.
    """
    body = unwrap_recorded(load_json_file(path))
    if isinstance(body, dict) and "transactions" in body:
        return parse_webhook(body, path)
    if isinstance(body, dict) and isinstance(body.get("data"), list) and not any(map(_is_delivery, body["data"])):
        return _transactions(body["data"], path, "")
    deliveries = None
    if isinstance(body, list) and body and all(map(_is_delivery, body)):
        deliveries = body
    elif isinstance(body, dict):
        lists = [v for v in body.values() if isinstance(v, list) and v and all(map(_is_delivery, v))]
        deliveries = lists[0] if len(lists) == 1 else None
    if deliveries is not None:
        return [r for n, d in enumerate(deliveries, start=1) for r in parse_webhook(d, path, f"delivery {n}")]
    if isinstance(body, list):
        if any(map(_is_delivery, body)):
            bad = next(n for n, d in enumerate(body, start=1) if not _is_delivery(d))
            raise ParseError(path, f"delivery {bad}", "a list of deliveries whose item has no transactions list")
        return _transactions(body, path, "")
    keys = ", ".join(body) if isinstance(body, dict) else type(body).__name__
    raise ParseError(path, None, "expected a transactions webhook, a list of deliveries, a list page or an array "
                                 f"of transactions (found: {keys or 'an empty object'})")
