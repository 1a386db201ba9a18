"""LoanPro: loan transactions (payments with their principal/interest/fee split, fees and charges,
interest accruals, disbursements) from the OData ``LoanTransactions`` collection.

The collection has no modification time; ids only grow, so the cursor is the highest id seen and every
run re-reads ``ID_OVERLAP`` ids below it (landing drops what did not change).
"""

from __future__ import annotations

import os

from connectors.common.amounts import load_json_file, unwrap_recorded
from connectors.common.cursors import revisit_cursor, split_revisit
from connectors.common.errors import ParseError
from connectors.common.http import HttpClient, json_api_client
from connectors.common.records import ExtractResult, RawRecord
from connectors.loanpro import helpers, settings

__all__ = ["extract_loan_transactions", "make_client", "parse_file"]


def make_client(base_url: str | None = None, *, token: str | None = None, instance_id: str | None = None,
                **client_options) -> HttpClient:
    """An ``HttpClient`` with LoanPro's bearer token and ``Autopal-Instance-Id`` headers.

    Args:
        base_url: default ``$LOANPRO_BASE_URL`` or the public API root; a local URL in tests.
        token: default ``$LOANPRO_API_TOKEN``.
        instance_id: default ``$LOANPRO_INSTANCE_ID``.
        client_options: passed to ``HttpClient``.
    """
    token = token or os.environ.get(settings.ENV_TOKEN)
    return json_api_client(base_url or os.environ.get(settings.ENV_BASE_URL) or settings.BASE_URL,
                           {"Authorization": f"Bearer {token}" if token else None,
                            "Autopal-Instance-Id": instance_id or os.environ.get(settings.ENV_INSTANCE)},
                           **client_options)


def extract_loan_transactions(client: HttpClient, cursor: str | None = None,
                              page_size: int = settings.PAGE_SIZE) -> ExtractResult:
    """LoanTransactions with an id above ``cursor`` minus ``ID_OVERLAP``, or from the lowest id still
    scheduled (``future = 1``, of a type in ``REVISIT_FUTURE_TYPES``) on the previous run, in id order.

    Args:
        client: from ``make_client``.
        cursor: the highest id of the previous run (text), with the lowest scheduled id to re-read
            (``<id> revisit_from=<id>``), or ``None`` for a full load.
        page_size: ``$top`` per page.
    """
    params: dict = {"$orderby": "id asc"}
    latest, scheduled = split_revisit(cursor)
    if latest:
        floor = max(int(latest) - settings.ID_OVERLAP, 0)
        params["$filter"] = f"id gt {floor if scheduled is None else min(floor, int(scheduled) - 1)}"
    records: list[RawRecord] = []
    still_open: list[str] = []
    for page in helpers.odata_pages(lambda q: client.get_json(settings.LOAN_TRANSACTIONS_PATH, params=q),
                                    params, page_size):
        for tx in page:
            records.append(helpers.transaction_record(tx))
            if int(tx.get("future") or 0) == 1 and tx.get("type") in settings.REVISIT_FUTURE_TYPES:
                still_open.append(str(tx["id"]))
    return ExtractResult(records, revisit_cursor(cursor, (r.object_id for r in records), still_open, key=int))


def parse_file(path, **options) -> list[RawRecord]:
    """Records of a saved ``LoanTransactions`` OData response (``{"d": {"results": [...]}}``).

    Args:
        path: the JSON file.
        options: ``currency`` (default USD).
    """
    body = unwrap_recorded(load_json_file(path))
    results = (body.get("d") or {}).get("results") if isinstance(body, dict) else None
    if results is None:
        raise ParseError(path, None, "expected an OData response with d.results")
    currency = str(options.get("currency") or settings.DEFAULT_CURRENCY)
    return [helpers.transaction_record(tx, currency) for tx in results]
