"""NetSuite: posted transactions (journals, invoices, payments, bills...) through SuiteQL over REST.

One query reads every posting accounting line of each transaction whose ``lastModifiedDate`` is at or
after the cursor minus an overlap window (NetSuite's timestamps are coarse and late), ordered oldest first;
rows are grouped per transaction and de-duplicated (latest version wins). Voided transactions and rows of
the DeletedRecord table become ``action = reverse`` records so their ledger transactions get reversed.
"""

from __future__ import annotations

import os

from connectors.common.cursors import advance, window_start
from connectors.common.http import HttpClient, json_api_client
from connectors.common.records import ExtractResult
from connectors.netsuite import helpers, settings

__all__ = ["extract", "extract_transactions", "make_client"]


def make_client(base_url: str | None = None, *, access_token: str | None = None, **client_options) -> HttpClient:
    """An ``HttpClient`` for SuiteQL (``Prefer: transient``), with a bearer token from the environment.

    Args:
        base_url: the account's REST host (default ``$NETSUITE_BASE_URL``); a local URL in tests.
        access_token: an OAuth 2.0 access token (default ``$NETSUITE_ACCESS_TOKEN``).
        client_options: passed to ``HttpClient``.
    """
    token = access_token or os.environ.get(settings.ENV_ACCESS_TOKEN)
    host = base_url or os.environ.get(settings.ENV_BASE_URL)
    if not host:
        raise ValueError(f"NetSuite needs a base URL: --base-url or ${settings.ENV_BASE_URL}")
    return json_api_client(host, {"Prefer": "transient", "Authorization": f"Bearer {token}" if token else None},
                           **client_options)


def extract_transactions(client: HttpClient, cursor: str | None = None) -> ExtractResult:
    """The ``transactions`` stream: transactions changed since ``cursor`` (with overlap) and deletions.

    Args:
        client: from ``make_client``.
        cursor: the previous run's cursor, or ``None`` for a full load.
    """
    return extract(client, cursor=cursor, currency=os.environ.get(settings.ENV_CURRENCY) or settings.DEFAULT_CURRENCY)


def extract(client: HttpClient, *, cursor: str | None = None, currency: str = settings.DEFAULT_CURRENCY,
            page_size: int = settings.PAGE_SIZE, include_deleted: bool = True) -> ExtractResult:
    """Read transactions changed since ``cursor`` minus ``settings.OVERLAP``, plus deletions.

    Args:
        client: an ``HttpClient`` on the account's REST base URL with OAuth headers (token-based auth
            signing is the caller's ``auth``).
        cursor: the previous run's cursor (ISO-8601 UTC of the latest ``lastModifiedDate`` seen), or
            ``None`` for a full load.
        currency: the subsidiary base currency the accounting-line amounts are in.
        page_size: rows per SuiteQL page (at most 1000).
        include_deleted: also read the DeletedRecord table for the same window (not on a full load).

    Returns:
        One record per transaction (and per deletion) and the new cursor.
    """
    since = window_start(cursor, settings.OVERLAP)

    def post(query: str, params: dict) -> dict:
        return client.post_json(settings.SUITEQL_PATH, json={"q": query}, params=params)

    rows = [row for page in helpers.suiteql_pages(post, helpers.suiteql_text(since), page_size) for row in page]
    records = helpers.group_transactions(rows, currency)
    if include_deleted and since is not None:
        deleted_rows = [row for page in helpers.suiteql_pages(post, helpers.deleted_text(since), page_size)
                        for row in page]
        records += helpers.deleted_records(deleted_rows)
    return ExtractResult(records, advance(cursor, (r.cursor_value for r in records)))
