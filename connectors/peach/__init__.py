"""Peach: loan disbursements, payments and service credits, and fees, by the API's documented fields.

Loans are listed company-wide; each active loan's transactions and fees are read with ``startingAfter``
paging. The list endpoints have no "updated since" filter, so each run reads them and keeps what was
updated after the cursor minus a lookback; landing drops what did not change.
"""

from __future__ import annotations

from collections.abc import Callable

from connectors.common.cursors import advance, parse_instant, window_start
from connectors.common.http import HttpClient, api_key_client
from connectors.common.records import ExtractResult, RawRecord
from connectors.peach import helpers, settings

__all__ = ["extract_fees", "extract_transactions", "make_client"]


make_client = api_key_client("Peach", "X-API-KEY", env_base_url=settings.ENV_BASE_URL,
                             default_base_url=settings.BASE_URL, env_api_key=settings.ENV_API_KEY)


def _loans(client: HttpClient, page_size: int) -> list[dict]:
    return [loan for page in helpers.list_pages(lambda q: client.get_json(settings.LOANS_PATH, params=q),
                                                {"fields": "all"}, page_size) for loan in page]


def _per_loan(client: HttpClient, cursor: str | None, path: str, parse: Callable[[dict, str], RawRecord],
              page_size: int, include_loans: bool) -> ExtractResult:
    since = window_start(cursor, settings.LOOKBACK)
    records: list[RawRecord] = []
    for loan in _loans(client, page_size):
        loan_id, person_id = str(loan.get("id")), str(loan.get("mainBorrowerId"))
        if include_loans and (disbursement := helpers.loan_record(loan)) is not None:
            records.append(disbursement)
        url = path.format(person_id=person_id, loan_id=loan_id)
        for page in helpers.list_pages(lambda q, url=url: client.get_json(url, params=q), {}, page_size):
            records.extend(parse(obj, loan_id) for obj in page)
    if since is not None:
        records = [r for r in records if r.cursor_value is None or parse_instant(r.cursor_value) >= since]
    return ExtractResult(records, advance(cursor, (r.cursor_value for r in records)))


def extract_transactions(client: HttpClient, cursor: str | None = None,
                         page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    """Disbursements of active loans, and every loan's payments and service credits.

    Args:
        client: from ``make_client``.
        cursor: the latest ``updatedAt`` of the previous run, or ``None``.
        page_size: ``limit`` per page (1..100).
    """
    return _per_loan(client, cursor, settings.TRANSACTIONS_PATH, helpers.transaction_record, page_size, True)


def extract_fees(client: HttpClient, cursor: str | None = None, page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    """Every loan's fees (origination, late, NSF, modification...).

    Args:
        client: from ``make_client``.
        cursor: the latest ``updatedAt`` of the previous run, or ``None``.
        page_size: ``limit`` per page (1..100).
    """
    return _per_loan(client, cursor, settings.FEES_PATH, helpers.fee_record, page_size, False)
