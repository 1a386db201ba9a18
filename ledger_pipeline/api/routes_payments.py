"""Payment orders created through the API, default-ledgered as every other payment order.

A create (or a status update) writes the order and then runs the core's default ledgering
(``ledger_pipeline.reconcile.payment_orders.auto_ledger_payment_orders``) in the same database transaction:
an order whose internal and external accounts are linked to ledger accounts gets its ledger transaction
(``external_id`` ``payment_order:<id>``), pending while the order is in flight, posted when it completes,
archived when it fails, with the events ``ledger_transaction.created`` and ``payment_order.auto_ledgered``
(then ``ledger_transaction.posted`` / ``.archived``). A refused one is quarantined like any batch write.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import Field, StrictInt

from ledger_pipeline.api import deps
from ledger_pipeline.api.app import (
    MAX_MONEY,
    ApiError,
    Read,
    Write,
    _listed,
    _metadata,
    _per_page,
    _ts,
)
from ledger_pipeline.ledger.errors import NotFoundError
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.reconcile import accounts as bank_accounts
from ledger_pipeline.reconcile import payment_orders as orders

router = APIRouter()

Status = Literal[orders.KNOWN_STATUSES]  # type: ignore[valid-type]


class PaymentOrderCreate(deps.TextBody):
    type: str | None = Field(default=None, description="ach, wire, sepa, book...")
    direction: Literal["credit", "debit"] = Field(description="credit: money out of the internal account; "
                                                              "debit: money into it.")
    amount: StrictInt = Field(gt=0, le=MAX_MONEY, description="An integer of minor units (cents for USD).")
    currency: str = Field(min_length=1)
    originating_account_id: str = Field(description="The internal account (id or name).")
    receiving_account_id: str = Field(description="The external account (id or name).")
    status: Status = "approved"
    effective_date: date | None = None
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class PaymentOrderUpdate(deps.TextBody):
    status: Status


_SELECT = ("SELECT p.id, p.type, p.direction, p.amount, p.currency, p.originating_account_id, "
           "p.receiving_account_id, p.status, p.effective_date, p.description, p.ledger_transaction_id, p.metadata, "
           "p.created_at, p.updated_at FROM payment_orders p")
_COMPARED = ("type", "direction", "amount", "currency", "originating_account_id", "receiving_account_id",
             "description", "metadata")


def _render(row: dict[str, Any]) -> dict[str, Any]:
    effective = row["effective_date"]
    return {"id": row["id"], "object": "payment_order", "type": row["type"], "direction": row["direction"],
            "amount": int(row["amount"]), "currency": row["currency"],
            "originating_account_id": row["originating_account_id"],
            "receiving_account_id": row["receiving_account_id"], "status": row["status"],
            "effective_date": effective.isoformat() if isinstance(effective, date) else effective,
            "description": row["description"], "metadata": _metadata(row["metadata"]),
            "ledger_transaction_id": row["ledger_transaction_id"], "created_at": _ts(row["created_at"]),
            "updated_at": _ts(row["updated_at"])}


def _get(db: Connection, order_id: str) -> dict[str, Any] | None:
    rows = db.dicts(f"{_SELECT} WHERE p.id = :id", {"id": order_id})
    return _render(rows[0]) if rows else None


def _resolve(db: Connection, kind: str, ref: str, field: str) -> str:
    try:
        return bank_accounts.resolve_account(db, kind, ref)
    except NotFoundError as exc:
        raise ApiError(422, "invalid_field", str(exc), field=field) from None


def _write_and_ledger(db: Connection, row: dict[str, Any], actor: str) -> None:
    orders.upsert_payment_orders(db, [row])
    orders.auto_ledger_payment_orders(db, actor=actor)


@router.post("/api/payment_orders", status_code=201, tags=["payment orders"])
def create_payment_order(request: Request, body: PaymentOrderCreate, key: Write,
                         idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
                         ) -> JSONResponse:
    """Create a payment order and default-ledger it. With an ``Idempotency-Key`` a retry returns the same
    order and writes nothing; the same key with other content is refused (``external_id_conflict``)."""
    order_id = deps.idempotent_id(key, idempotency_key)
    with deps.store(request).transaction() as db:
        row = {**body.model_dump(), "id": order_id,
               "currency": body.currency.upper(),
               "originating_account_id": _resolve(db, bank_accounts.INTERNAL, body.originating_account_id,
                                                  "originating_account_id"),
               "receiving_account_id": _resolve(db, bank_accounts.EXTERNAL, body.receiving_account_id,
                                                "receiving_account_id")}
        existing = _get(db, order_id)
        if existing is not None:
            if any(existing[f] != row[f] for f in _COMPARED):
                raise ApiError(422, "rule_violation", f"Idempotency-Key {idempotency_key!r} was used for payment "
                               f"order {order_id} with other content", reason_codes=["external_id_conflict"])
        else:
            _write_and_ledger(db, {**row, "metadata": json.dumps(body.metadata, sort_keys=True)},
                              deps.actor(key))
    return JSONResponse(_get(deps.conn(request), order_id), status_code=201)


@router.patch("/api/payment_orders/{order_id}", tags=["payment orders"])
def update_payment_order(request: Request, order_id: str, body: PaymentOrderUpdate, key: Write) -> dict[str, Any]:
    """Change a payment order's status (as the bank reports it); its ledger transaction follows: posted when
    completed, archived when failed, cancelled, denied, returned or reversed."""
    with deps.store(request).transaction() as db:
        rows = db.dicts(f"{_SELECT} WHERE p.id = :id", {"id": order_id})
        if not rows:
            raise ApiError(404, "not_found", f"payment order {order_id} not found")
        _write_and_ledger(db, {**rows[0], "status": body.status}, deps.actor(key))
    return _get(deps.conn(request), order_id)


@router.get("/api/payment_orders", tags=["payment orders"])
def list_payment_orders(request: Request, _: Read, after_cursor: str | None = None) -> JSONResponse:
    """Filters: ``status``, ``direction``, ``originating_account_id``, ``receiving_account_id``,
    ``metadata[key]=value``; oldest first."""
    db = deps.conn(request)
    params: dict[str, Any] = {}
    where: list[str] = []
    for name in ("status", "direction", "originating_account_id", "receiving_account_id"):
        value = request.query_params.get(name)
        if value is not None:
            where.append(f"p.{name} = :{name}")
            params[name] = value
    where += deps.metadata_where(db, request, "p", params)
    page = deps.created_page(db, _SELECT, where, params, table="payment_orders", alias="p", after=after_cursor,
                             per_page=_per_page(request))
    return _listed(page, _render)


@router.get("/api/payment_orders/{order_id}", tags=["payment orders"])
def get_payment_order(request: Request, order_id: str, _: Read) -> dict[str, Any]:
    found = _get(deps.conn(request), order_id)
    if found is None:
        raise ApiError(404, "not_found", f"payment order {order_id} not found")
    return found
