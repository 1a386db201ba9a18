"""Internal accounts (the company's bank accounts) and external accounts (counterparties') in Modern
Treasury's shape, with their ledger links.

A create links the new (or existing, same definition) account to a ledger account: an existing one by
``ledger_account_id``, or one created with it from a ``ledger_account`` object (Modern Treasury's way of
opening a counterparty's ledger account together with its external account). Account, ledger account and
link are written in one database transaction, and each is idempotent, so the same request again returns
the same account. The domain functions are ``ledger_pipeline.reconcile.accounts``'s, which the CLI uses too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from ledger_pipeline.api import deps, queries
from ledger_pipeline.api.app import (
    ApiError,
    LedgerAccountCreate,
    Read,
    Write,
    _listed,
    _metadata,
    _per_page,
    _ts,
)
from ledger_pipeline.ledger.ids import is_uuid_text
from ledger_pipeline.ledger.store import Connection
from ledger_pipeline.reconcile import accounts as bank_accounts

if TYPE_CHECKING:
    from ledger_pipeline.api.keys import ApiKey

router = APIRouter()


class LinkedLedgerAccount(deps.TextBody, LedgerAccountCreate):
    """The ledger account to create with the account (its link is set by the create)."""


class InternalAccountCreate(deps.TextBody):
    name: str = Field(min_length=1)
    account_identifier: str = Field(min_length=1, description="The account number as the bank's statements "
                                                              "name it (IBAN, BAI2 account number, OFX ACCTID).")
    currency: str = Field(min_length=1)
    bank_name: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ledger_account_id: str | None = Field(default=None, description="Link this existing ledger account.")
    ledger_account: LinkedLedgerAccount | None = Field(default=None, description="Create this ledger account "
                                                                                 "and link it.")


class ExternalAccountCreate(deps.TextBody):
    name: str = Field(min_length=1)
    currency: str = Field(min_length=1)
    account_identifier: str | None = None
    party_name: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ledger_account_id: str | None = Field(default=None, description="Link this existing ledger account.")
    ledger_account: LinkedLedgerAccount | None = Field(default=None, description="Create this ledger account "
                                                                                 "and link it.")


_SELECT = {
    bank_accounts.INTERNAL: "SELECT x.id, x.name, x.account_identifier, x.bank_name, x.currency, x.metadata, "
                            "x.created_at, x.updated_at, {linked} AS ledger_account_id FROM internal_accounts x",
    bank_accounts.EXTERNAL: "SELECT x.id, x.name, x.account_identifier, x.party_name, x.currency, x.metadata, "
                            "x.created_at, x.updated_at, {linked} AS ledger_account_id FROM external_accounts x",
}
# the id as text: PostgreSQL has no min() of UUIDs
_LINKED = ("(SELECT min(CAST(a.id AS TEXT)) FROM ledger_accounts a WHERE a.ledgerable_type = '{kind}' "
           "AND a.ledgerable_id = x.id)")


def _select(kind: str) -> str:
    return _SELECT[kind].format(linked=_LINKED.format(kind=kind))


def _render(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    rendered = {"id": row["id"], "object": kind, **{k: row[k] for k in row if k not in (
        "id", "metadata", "created_at", "updated_at")}}
    rendered["metadata"] = _metadata(row["metadata"])
    rendered["created_at"], rendered["updated_at"] = _ts(row["created_at"]), _ts(row["updated_at"])
    return rendered


def _get(db: Connection, kind: str, account_id: str) -> dict[str, Any]:
    rows = db.dicts(f"{_select(kind)} WHERE x.id = :id", {"id": account_id})
    if not rows:
        raise ApiError(404, "not_found", f"{kind.replace('_', ' ')} {account_id} not found")
    return _render(kind, rows[0])


def _list(request: Request, kind: str, after_cursor: str | None) -> JSONResponse:
    db = deps.conn(request)
    params: dict[str, Any] = {}
    where: list[str] = []
    currency = request.query_params.get("currency")
    if currency:
        where.append("x.currency = :currency")
        params["currency"] = currency.upper()
    where += deps.metadata_where(db, request, "x", params)
    page = deps.created_page(db, _select(kind), where, params, table=f"{kind}s", alias="x", after=after_cursor,
                             per_page=_per_page(request))
    return _listed(page, lambda row: _render(kind, row))


def _create(request: Request, kind: str, body: InternalAccountCreate | ExternalAccountCreate, key: ApiKey,
            ensure: Callable[[Connection, str], str]) -> JSONResponse:
    """Create (or find) an account of ``kind`` with ``ensure(db, actor)`` and link it, in one transaction."""
    actor = deps.actor(key)
    with deps.store(request).transaction() as db:
        account_id = ensure(db, actor)
        _link(kind, account_id, body, db, actor)
    return JSONResponse(_get(deps.conn(request), kind, account_id), status_code=201)


def _link(kind: str, account_id: str, body: InternalAccountCreate | ExternalAccountCreate,
          db: Connection, actor: str) -> None:
    """Link the account to ``body``'s ledger account (an existing one, or one created now)."""
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account

    if body.ledger_account_id is not None and body.ledger_account is not None:
        raise ApiError(422, "invalid_field", "give ledger_account_id or ledger_account, not both",
                       field="ledger_account")
    if body.ledger_account is not None:
        spec_body = body.ledger_account
        if spec_body.ledgerable_type is not None or spec_body.ledgerable_id is not None:
            raise ApiError(422, "invalid_field", "the link of a ledger account created with an account is that "
                           "account", field="ledger_account.ledgerable_type")
        ledger = queries.ledger_name(db, spec_body.ledger_id)
        if ledger is None:
            raise ApiError(422, "invalid_field", f"ledger {spec_body.ledger_id} does not exist",
                           field="ledger_account.ledger_id")
        spec = AccountSpec(name=spec_body.name, normal_balance=spec_body.normal_balance,
                           currency=spec_body.currency, currency_exponent=spec_body.currency_exponent,
                           description=spec_body.description, metadata=spec_body.metadata,
                           min_available_balance=spec_body.min_available_balance,
                           max_available_balance=spec_body.max_available_balance)
        ledger_account_id = ensure_account(db, ledger, spec, actor=actor)
    elif body.ledger_account_id is not None:
        ledger_account_id = body.ledger_account_id
        ledger = None
        if is_uuid_text(ledger_account_id):  # any other text is no ledger account's id
            ledger = db.scalar("SELECT l.name FROM ledger_accounts a JOIN ledgers l ON l.id = a.ledger_id "
                               "WHERE a.id = :id", {"id": ledger_account_id})
        if ledger is None:
            raise ApiError(422, "invalid_field", f"ledger account {ledger_account_id} does not exist",
                           field="ledger_account_id")
    else:
        return
    bank_accounts.link_ledger_account(db, ledger_account_id, kind, account_id, ledger=ledger, actor=actor)


def _read_routes(kind: str, tag: str) -> None:
    """``GET /api/<kind>s`` and ``GET /api/<kind>s/{account_id}``, the same for both kinds of account."""

    @router.get(f"/api/{kind}s", tags=[tag], name=f"list_{kind}s")
    def list_accounts(request: Request, _: Read, after_cursor: str | None = None) -> JSONResponse:
        """Filters: ``currency``, ``metadata[key]=value``."""
        return _list(request, kind, after_cursor)

    @router.get(f"/api/{kind}s/{{account_id}}", tags=[tag], name=f"get_{kind}")
    def get_account(request: Request, account_id: str, _: Read) -> dict[str, Any]:
        return _get(deps.conn(request), kind, account_id)


@router.post("/api/internal_accounts", status_code=201, tags=["internal accounts"])
def create_internal_account(request: Request, body: InternalAccountCreate, key: Write) -> JSONResponse:
    """Create an internal account (the same definition again returns it), optionally linked to a ledger
    account."""
    return _create(request, bank_accounts.INTERNAL, body, key, lambda db, actor: bank_accounts.ensure_internal_account(
        db, body.name, body.account_identifier, body.currency, bank_name=body.bank_name, metadata=body.metadata,
        actor=actor))


_read_routes(bank_accounts.INTERNAL, "internal accounts")


@router.post("/api/external_accounts", status_code=201, tags=["external accounts"])
def create_external_account(request: Request, body: ExternalAccountCreate, key: Write) -> JSONResponse:
    """Create an external account (the same definition again returns it), optionally linked to an existing
    ledger account (``ledger_account_id``) or to a new one (``ledger_account``)."""
    return _create(request, bank_accounts.EXTERNAL, body, key, lambda db, actor: bank_accounts.ensure_external_account(
        db, body.name, body.currency, account_identifier=body.account_identifier, party_name=body.party_name,
        metadata=body.metadata, actor=actor))


_read_routes(bank_accounts.EXTERNAL, "external accounts")
