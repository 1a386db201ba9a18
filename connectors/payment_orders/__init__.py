"""Payment orders between internal and external accounts (Modern Treasury's shape), read from files.

JSON (an array, ``{"data": [...]}`` or JSON lines) or CSV with the columns ``id, type, direction, amount,
currency, originating_account_id, receiving_account_id, status, effective_date`` (optional
``description``, ``reference``, ``ledger_transaction_id``). ``amount`` is an integer of minor units;
``direction`` is ``credit`` (money leaves the internal account) or ``debit`` (money comes in).

Records (stream ``payment_orders``, ``type`` = ``payment_order``) are landed only: their default ledgering
(internal account debited/credited against the external one, status following the order's) belongs to
reconciliation (``ledger_pipeline/reconcile``), which reads them with ``read_payment_orders``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from connectors.common.errors import ParseError
from connectors.common.files import iter_csv, read_text
from connectors.common.records import RawRecord

REQUIRED = ("id", "direction", "amount", "currency", "originating_account_id", "receiving_account_id", "status")
DIRECTIONS = ("credit", "debit")
STATUSES = ("approved", "pending", "processing", "sent", "completed", "returned", "failed", "cancelled",
            "reversed", "denied", "needs_approval")


def _order(obj: dict[str, Any], ref: str, path: Path) -> RawRecord:
    missing = [k for k in REQUIRED if obj.get(k) in (None, "")]
    if missing:
        raise ParseError(path, ref, f"payment order lacks {', '.join(missing)}")
    amount = obj["amount"]
    if isinstance(amount, str) and amount.strip().lstrip("-").isdigit():
        amount = int(amount.strip())
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ParseError(path, ref, f"amount {obj['amount']!r} is not a positive integer of minor units")
    direction = str(obj["direction"]).lower()
    if direction not in DIRECTIONS:
        raise ParseError(path, ref, f"direction {obj['direction']!r} is not credit or debit")
    status = str(obj["status"]).lower()
    if status not in STATUSES:
        raise ParseError(path, ref, f"status {obj['status']!r} is not one of {', '.join(STATUSES)}")
    fields = {
        "type": "payment_order", "payment_type": obj.get("type"), "direction": direction, "amount": amount,
        "currency": str(obj["currency"]).upper(), "status": status,
        "originating_account_id": str(obj["originating_account_id"]),
        "receiving_account_id": str(obj["receiving_account_id"]),
        "effective_date": obj.get("effective_date") or None, "description": obj.get("description") or None,
        "reference": obj.get("reference") or None, "ledger_transaction_id": obj.get("ledger_transaction_id") or None,
    }
    return RawRecord(source="payment_orders", stream="payment_orders", object_id=str(obj["id"]),
                     cursor_value=obj.get("updated_at") or obj.get("created_at") or fields["effective_date"],
                     raw=obj, fields=fields, record_ref=ref)


def read_payment_orders(path: str | Path) -> list[RawRecord]:
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return [_order(row, f"{path}, line {line}", path) for line, row in iter_csv(path, required=REQUIRED)]
    text = read_text(path)
    if not text.strip():
        raise ParseError(path, 1, "empty file")
    try:
        doc = json.loads(text)
        items = doc.get("data", [doc]) if isinstance(doc, dict) else doc
        pairs = [(f"{path}, record {i}", o) for i, o in enumerate(items, start=1)]
    except json.JSONDecodeError as first:
        pairs = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    pairs.append((f"{path}, line {n}", json.loads(line)))
                except json.JSONDecodeError:
                    raise ParseError(path, n if pairs or n > 1 else first.lineno,
                                     f"malformed JSON (truncated?): {first.msg}") from None
    out = []
    for ref, obj in pairs:
        if not isinstance(obj, dict):
            raise ParseError(path, ref, "a payment order must be a JSON object")
        out.append(_order(obj, ref, path))
    return out


def parse_file(path: Path, **_: Any) -> list[RawRecord]:
    return read_payment_orders(path)
