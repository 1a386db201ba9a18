"""Workday Financial Management: journal entries and settlement activity over REST, incrementally.

Collections are paged with ``limit``/``offset``; the cursor is the latest ``lastUpdated`` seen, sent back
as ``updatedFrom`` minus a lookback. Posted journals become balanced journal lines; reversed or canceled
journals and settlement runs are reversed in the ledger. Field names: see ``settings.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from connectors.common.cursors import advance, format_instant, window_start
from connectors.common.http import HttpClient, json_api_client
from connectors.common.records import ExtractResult, RawRecord
from connectors.common.streams import stream_extractor
from connectors.workday import helpers, settings

__all__ = ["extract_journal_entries", "extract_settlement_runs", "make_client"]


def make_client(base_url: str | None = None, *, access_token: str | None = None, **client_options) -> HttpClient:
    """An ``HttpClient`` on the tenant's Financial Management REST service with an OAuth bearer token.

    Args:
        base_url: ``https://<host>/ccx/api/financialManagement/v1/<tenant>`` (default
            ``$WORKDAY_BASE_URL``); a local URL in tests.
        access_token: default ``$WORKDAY_ACCESS_TOKEN`` (from the tenant's refresh-token flow).
        client_options: passed to ``HttpClient``.
    """
    url = base_url or os.environ.get(settings.ENV_BASE_URL)
    if not url:
        raise ValueError(f"Workday needs a base URL: --base-url or ${settings.ENV_BASE_URL}")
    token = access_token or os.environ.get(settings.ENV_ACCESS_TOKEN)
    return json_api_client(url, {"Authorization": f"Bearer {token}" if token else None}, **client_options)


def _extract(client: HttpClient, cursor: str | None, path: str, parse: Callable[[dict], list[RawRecord]],
             page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    since = window_start(cursor, settings.LOOKBACK)
    params = {} if since is None else {settings.CURSOR_PARAM: format_instant(since)}
    records: list[RawRecord] = []
    for page in helpers.collection_pages(lambda q: client.get_json(path, params=q), params, page_size):
        for obj in page:
            records.extend(parse(obj))
    return ExtractResult(records, advance(cursor, (r.cursor_value for r in records)))


_ARGS = """ updated since ``cursor`` minus the lookback.

    Args:
        client: from ``make_client``.
        cursor: the latest ``lastUpdated`` of the previous run, or ``None`` for a full load.
        page_size: ``limit`` per page (at most 100).
    """

extract_journal_entries = stream_extractor("journal_entries", _extract, "Journal entries" + _ARGS,
                                           path=settings.JOURNALS_PATH, parse=helpers.journal_records)
extract_settlement_runs = stream_extractor(
    "settlement_runs", _extract, "Settlement runs (payments made from a bank account)" + _ARGS,
    path=settings.SETTLEMENT_RUNS_PATH, parse=lambda r: [helpers.settlement_record(r)])
