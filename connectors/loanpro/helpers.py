"""LoanPro OData paging and parsing: LoanTransactions to payments, fees, charges, interest, disbursements."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from connectors.common.amounts import minor_units
from connectors.common.cursors import epoch_to_iso
from connectors.common.errors import ParseError
from connectors.common.records import RawRecord
from connectors.loanpro import settings

_ODATA_DATE = re.compile(r"^/Date\((-?\d+)\)/$")
#: Dates before this many seconds (year 1900) are LoanPro's "no date" placeholders.
_NO_DATE = -2208988800


def odata_date(value: str | None) -> str | None:
    """``/Date(1764547200)/`` (Unix seconds) -> ISO-8601 UTC; placeholders (year 0) -> ``None``."""
    if not value:
        return None
    match = _ODATA_DATE.match(str(value))
    if not match:
        return None
    seconds = int(match.group(1))
    return None if seconds <= _NO_DATE else epoch_to_iso(seconds)


def odata_pages(get: Callable[[dict], Any], params: dict, page_size: int = settings.PAGE_SIZE) -> Iterator[list[dict]]:
    """Pages of an OData collection: ``$top``/``$start`` until ``summary.total`` rows were read (or a short
    page, when the server gives no summary)."""
    start = 0
    while True:
        body = get({**params, "$top": page_size, "$start": start})
        d = body.get("d") if isinstance(body, dict) else None
        if not isinstance(d, dict) or "results" not in d:
            raise ParseError(settings.SOURCE, f"page at {start}", "response has no d.results")
        items = d["results"]
        yield items
        start += len(items)
        total = (d.get("summary") or {}).get("total")
        if not items or (total is not None and start >= int(total)) or (total is None and len(items) < page_size):
            return


def _minor(value: Any, where: str, currency: str) -> int:
    try:
        return minor_units(value, currency) or 0
    except ValueError as exc:
        raise ParseError(settings.SOURCE, where, str(exc)) from exc


def transaction_record(tx: dict, currency: str = settings.DEFAULT_CURRENCY) -> RawRecord:
    """One LoanTransaction. Payments split into principal, interest, fees and the rest (escrow,
    discount...); fees and charges raise what the borrower owes; a scheduled payment's interest is an
    accrual; an origination or advancement is a disbursement (amount from ``infoDetails``). Future rows
    (``future = 1``) and info-only rows are landed, not ledgered."""
    where = f"LoanTransaction {tx.get('id')}"
    if tx.get("id") is None:
        raise ParseError(settings.SOURCE, where, "transaction without id")
    kind = str(tx.get("type") or "")
    record_type = settings.TYPES.get(kind, "loan_info")
    payment = _minor(tx.get("paymentAmount"), where, currency)
    principal = _minor(tx.get("paymentPrincipal"), where, currency)
    interest = _minor(tx.get("paymentInterest"), where, currency)
    fees = _minor(tx.get("paymentFees"), where, currency)
    amount = payment
    if record_type in ("loan_fee", "loan_charge"):
        amount = _minor(tx.get("chargeAmount"), where, currency)
    elif record_type == "loan_interest":
        amount = _minor(tx.get("chargeInterest"), where, currency)
    elif record_type == "loan_disbursement":
        try:
            details = json.loads(tx.get("infoDetails") or "{}", parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(settings.SOURCE, where, f"infoDetails is not JSON: {exc}") from exc
        amount = _minor(details.get("amount") or tx.get("chargePrincipal"), where, currency)
    elif int(tx.get("infoOnly") or 0) == 1:
        record_type = "loan_info"
    if int(tx.get("future") or 0) == 1:
        record_type = "loan_future"
    loan_id = str(tx.get("entityId"))
    fields = {
        "type": record_type, "loanpro_type": kind, "title": tx.get("title"), "loan_id": loan_id,
        "tx_id": tx.get("txId"), "payment_id": str(tx.get("paymentId") or ""), "currency": currency.upper(),
        "effective_at": odata_date(tx.get("date")), "amount": amount, "principal": principal,
        "interest": interest, "fees": fees, "other": payment - principal - interest - fees,
        "status": "posted", "action": "post", "reverses_object_id": None,
    }
    return RawRecord(settings.SOURCE, "loan_transactions", str(tx["id"]), str(tx["id"]), tx, fields,
                     record_ref=where)
