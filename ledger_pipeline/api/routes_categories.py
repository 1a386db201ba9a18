"""Modern Treasury's ledger account categories over the store: create one (nested under parents) and list
them with their balances, which roll up every account the category reaches (``ledger.categories``).

A category has ``balances`` in Modern Treasury's shape when its accounts share one currency (always so for
a category with a currency); ``balances_by_currency`` lists them per currency, for a category without a
currency that reaches several.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from ledger_pipeline.api import queries
from ledger_pipeline.api.app import (
    ApiError,
    Read,
    Write,
    _balance,
    _Body,
    _filters,
    _id_parameter,
    _listed,
    _metadata,
    _parse_time,
    _per_page,
    _ts,
)
from ledger_pipeline.ledger.ids import is_uuid_text

router = APIRouter(tags=["ledger account categories"])

_CATEGORY = ("SELECT c.id, c.ledger_id, c.name, c.description, c.normal_balance, c.currency, c.metadata, "
             "c.archived_at, c.created_at, c.updated_at FROM ledger_account_categories c")


class LedgerAccountCategoryCreate(_Body):
    name: str = Field(min_length=1)
    ledger_id: str
    normal_balance: Literal["credit", "debit"]
    currency: str | None = Field(default=None, min_length=1,
                                 description="Only accounts of this currency may join; default: any.")
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ledger_account_category_ids: list[str] = Field(
        default_factory=list, description="The categories this category is nested in.")


def _balances(row: dict[str, Any], as_of: datetime | None) -> dict[str, Any]:
    credit_normal = row["normal_balance"] == "credit"
    currency, exponent = row["currency"], row["currency_exponent"]
    return {
        "effective_at_upper_bound": _ts(as_of),
        **{f"{kind}_balance": _balance(row[f"{kind}_debits"], row[f"{kind}_credits"], credit_normal, currency,
                                       exponent)
           for kind in ("pending", "posted", "available")},
    }


def _category(row: dict[str, Any], balances: list[dict[str, Any]], as_of: datetime | None) -> dict[str, Any]:
    by_currency = [_balances(b, as_of) for b in balances if b["currency_exponent"] is not None]
    return {
        "id": row["id"], "object": "ledger_account_category", "ledger_id": row["ledger_id"], "name": row["name"],
        "description": row["description"], "normal_balance": row["normal_balance"], "currency": row["currency"],
        "metadata": _metadata(row["metadata"]), "discarded_at": _ts(row["archived_at"]),
        "created_at": _ts(row["created_at"]), "updated_at": _ts(row["updated_at"]),
        "balances": by_currency[0] if len(by_currency) == 1 else None,
        "balances_by_currency": by_currency,
    }


def _with_balances(conn, rows: list[dict[str, Any]], as_of: datetime | None) -> list[dict[str, Any]]:
    from ledger_pipeline.ledger.categories import category_balances

    balances: dict[str, list[dict[str, Any]]] = {}
    for b in category_balances(conn, category_ids=[r["id"] for r in rows], as_of=as_of):
        balances.setdefault(b["category_id"], []).append(b)
    return [_category(r, balances.get(r["id"], []), as_of) for r in rows]


def _as_of(request: Request) -> datetime | None:
    value = request.query_params.get("balances[effective_at]")
    return _parse_time(value, "balances[effective_at]") if value else None


@router.post("/api/ledger_account_categories", status_code=201)
def create_ledger_account_category(body: LedgerAccountCategoryCreate, key: Write, request: Request) -> JSONResponse:
    """Create a category, nested in ``ledger_account_category_ids``; creating one that exists with the same
    normal balance and currency returns it (and nests it there too)."""
    from ledger_pipeline.ledger.categories import CategorySpec, add_child, ensure_category

    writers = request.app.state.writers
    conn = writers.get().conn
    ledger = queries.ledger_name(conn, body.ledger_id)
    if ledger is None:
        raise ApiError(422, "invalid_field", f"ledger {body.ledger_id} does not exist", field="ledger_id")
    spec = CategorySpec(name=body.name, normal_balance=body.normal_balance, currency=body.currency,
                        description=body.description, metadata=body.metadata)
    actor = f"api:{key.name}"
    with writers.store.transaction() as tx_conn:
        category_id = ensure_category(tx_conn, ledger, spec, actor=actor)
        for parent in body.ledger_account_category_ids:
            add_child(tx_conn, ledger, parent, category_id, actor=actor)
    rows = conn.dicts(f"{_CATEGORY} WHERE c.id = :id", {"id": category_id})
    return JSONResponse(_with_balances(conn, rows, None)[0], status_code=201)


@router.get("/api/ledger_account_categories")
def list_ledger_account_categories(request: Request, _: Read, ledger_id: str | None = None,
                                   name: str | None = None, after_cursor: str | None = None) -> JSONResponse:
    """Categories with their balances; ``balances[effective_at]`` (an ISO 8601 time) gives them as of that
    effective time. Filters: ``ledger_id``, ``name``, ``metadata[key]=value``."""
    conn = request.app.state.writers.get().conn
    as_of = _as_of(request)
    params: dict[str, Any] = {"ledger_id": _id_parameter(ledger_id, "ledger_id"), "name": name}
    where = ["(CAST(:ledger_id AS UUID) IS NULL OR c.ledger_id = CAST(:ledger_id AS UUID))",
             "(CAST(:name AS TEXT) IS NULL OR c.name = :name)"]
    where += queries._where(conn, "c", queries.Filters(metadata=_filters(request).metadata), params)
    page = queries._page(conn, _CATEGORY, where, params, alias="c", after=_id_parameter(after_cursor, "after_cursor"),
                         per_page=_per_page(request))
    rendered = {r["id"]: r for r in _with_balances(conn, page.rows, as_of)}
    return _listed(page, lambda row: rendered[row["id"]])


@router.get("/api/ledger_account_categories/{category_id}")
def get_ledger_account_category(category_id: str, request: Request, _: Read) -> dict[str, Any]:
    """A category with its balances (now, or as of ``balances[effective_at]``)."""
    conn = request.app.state.writers.get().conn
    rows = []
    if is_uuid_text(category_id):  # any other text is no category's id
        rows = conn.dicts(f"{_CATEGORY} WHERE c.id = :id", {"id": category_id})
    if not rows:
        raise ApiError(404, "not_found", f"ledger account category {category_id} not found")
    return _with_balances(conn, rows, _as_of(request))[0]


def _category_ledger(conn, category_id: str) -> str:
    """The name of the category's ledger; 404 for an unknown category."""
    ledger = None
    if is_uuid_text(category_id):  # any other text is no category's id
        ledger = conn.scalar("SELECT l.name FROM ledger_account_categories c JOIN ledgers l ON l.id = c.ledger_id "
                             "WHERE c.id = :id", {"id": category_id})
    if ledger is None:
        raise ApiError(404, "not_found", f"ledger account category {category_id} not found")
    return ledger


@router.put("/api/ledger_account_categories/{category_id}/ledger_accounts/{ledger_account_id}", status_code=204)
def add_ledger_account_to_category(category_id: str, ledger_account_id: str, key: Write, request: Request) -> None:
    """Put a ledger account in a category (again: no change). Refused (422) for an account of another
    ledger, or of another currency than the category or a category above it."""
    from ledger_pipeline.ledger.categories import add_account

    writers = request.app.state.writers
    ledger = _category_ledger(writers.get().conn, category_id)
    with writers.store.transaction() as tx_conn:
        add_account(tx_conn, ledger, category_id, ledger_account_id, actor=f"api:{key.name}")


@router.put("/api/ledger_account_categories/{category_id}/ledger_account_categories/{sub_category_id}",
            status_code=204)
def add_nested_category(category_id: str, sub_category_id: str, key: Write, request: Request) -> None:
    """Nest a category in another (again: no change). Refused (422) when it would make a cycle, cross
    ledgers or mix currencies."""
    from ledger_pipeline.ledger.categories import add_child

    writers = request.app.state.writers
    ledger = _category_ledger(writers.get().conn, category_id)
    with writers.store.transaction() as tx_conn:
        add_child(tx_conn, ledger, category_id, sub_category_id, actor=f"api:{key.name}")
