"""Card authorisation decisions: Lithic's Auth Stream Access (ASA) and Marqeta's Gateway JIT Funding.

A card is linked to its ledger account by the account's ``ledgerable_type = "card"`` and
``ledgerable_id = <the provider's card token>``. An authorisation is approved only when the pending hold it
places fits the account's balance limits: the hold is one pending ledger transaction (the card account
against the mapping's ``card_network`` account) posted through the server thread's ``LedgerWriter``, so
the balance check and the hold are one database transaction, under the lock the core takes on the balance
rows of the accounts it touches (``min_available_balance = 0`` means "never overdraw"). A refusal for
``balance_limit_exceeded`` is a decline for insufficient funds; nothing is written.

The hold carries the external_id the ingest gives the same authorisation's hold
(``<source>:<hold_id>:hold:<version_id>``, see ``ingest/lifecycle.py``), so when the provider's transaction
is ingested later its clearing posts this hold (or archives it and posts the cleared amount) and its
reversal archives it: the authorisation is counted once. A repeated request (a provider's retry) finds the
hold and answers the same.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ledger_pipeline.api import deps, signatures
from ledger_pipeline.api.app import ApiError
from ledger_pipeline.ledger.errors import LedgerError, RuleViolation

router = APIRouter(tags=["card authorizations"])

CARD_LEDGERABLE_TYPE = "card"
#: Lithic ASA statuses that hold funds (a credit authorisation or a balance inquiry moves nothing).
LITHIC_HOLDING = frozenset({"AUTHORIZATION", "FINANCIAL_AUTHORIZATION"})
#: Marqeta JIT Funding methods that ask to fund a purchase (the others are informative or zero-amount).
MARQETA_HOLDING = frozenset({"pgfs.authorization", "pgfs.auth_plus_capture"})


@dataclass(frozen=True)
class Hold:
    source: str
    external_id: str
    card_token: str
    amount: int  # minor units, > 0
    currency: str
    effective_at: str | None
    description: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str | None = None  # why it was declined: insufficient_funds, unknown_card, or reason codes


_NETWORK_ACCOUNTS: dict[tuple[str, str, str], str] = {}
_NETWORK_GUARD = threading.Lock()


def _network_account(request: Request, source: str, ledger: str, currency: str) -> str:
    """The id of the mapping's ``card_network`` account for ``currency`` (created when missing), as the
    ingest names it."""
    key = (request.app.state.writers.store.url, source, f"{ledger}:{currency}")
    with _NETWORK_GUARD:
        found = _NETWORK_ACCOUNTS.get(key)
    if found is not None:
        return found
    from ledger_pipeline.ingest.mapping import load_mapping
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account

    chart = load_mapping(f"{source}.yaml").accounts["card_network"]
    spec = AccountSpec(name=chart.name.replace("{currency}", currency), normal_balance=chart.normal_balance,
                       currency=currency, description=chart.description,
                       metadata={"source": source, "chart_key": chart.key})
    store = request.app.state.writers.store
    for attempt in range(2):
        try:
            with store.transaction() as conn:
                account_id = ensure_account(conn, ledger, spec, actor=f"api:{source}")
            break
        except Exception:  # a concurrent first request created it: read it on the second attempt
            if attempt:
                raise
    with _NETWORK_GUARD:
        _NETWORK_ACCOUNTS[key] = account_id
    return account_id


def _card_account(conn: Any, card_token: str) -> dict[str, Any] | None:
    rows = conn.dicts(
        "SELECT a.id, a.currency, a.normal_balance, l.name AS ledger FROM ledger_accounts a "
        "JOIN ledgers l ON l.id = a.ledger_id WHERE a.ledgerable_type = :type AND a.ledgerable_id = :token "
        "AND a.archived_at IS NULL ORDER BY a.id LIMIT 1", {"type": CARD_LEDGERABLE_TYPE, "token": card_token})
    return rows[0] if rows else None


def place_hold(request: Request, hold: Hold) -> Decision:
    """Approve ``hold`` by writing it as a pending transaction, or decline it (nothing written)."""
    from ledger_pipeline.ledger.posting import EntryInput, TransactionInput

    writer = request.app.state.writers.get()
    account = _card_account(writer.conn, hold.card_token)
    if account is None:
        return Decision(False, "unknown_card")
    if account["currency"] != hold.currency:
        return Decision(False, "currency_mismatch")
    network = _network_account(request, hold.source, account["ledger"], hold.currency)
    spend, back = ("debit", "credit") if account["normal_balance"] == "credit" else ("credit", "debit")
    tx = TransactionInput(
        entries=[EntryInput(account["id"], spend, hold.amount), EntryInput(network, back, hold.amount)],
        external_id=hold.external_id, ledger=account["ledger"], status="pending", effective_at=hold.effective_at,
        description=hold.description, metadata=hold.metadata, source=hold.source)
    writer.actor = f"api:{hold.source}"
    try:
        writer.post(tx)
    except RuleViolation as exc:
        if "balance_limit_exceeded" in exc.reason_codes:
            return Decision(False, "insufficient_funds")
        return Decision(False, ",".join(exc.reason_codes))
    return Decision(True)


def _refuse(exc: signatures.SignatureError) -> ApiError:
    return ApiError(401, "invalid_signature", str(exc))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object of the request, or an empty one for anything else (a field then reads as missing)."""
    return value if isinstance(value, dict) else {}


def _minor(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, "invalid_field", f"{field} must be an integer of minor units", field=field)
    return value


# -- Lithic Auth Stream Access --------------------------------------------------------------------------------


def lithic_hold(payload: dict[str, Any]) -> Hold | None:
    """The hold an ASA request asks for (None: nothing to hold). The amount is ``amounts.hold`` (what
    Lithic will hold, which may exceed the purchase, e.g. at a fuel pump), else ``amount``."""
    token = payload.get("token")
    card_token = _obj(payload.get("card")).get("token") or payload.get("card_token")
    if not isinstance(token, str) or not token:
        raise ApiError(422, "invalid_field", "token (the transaction token) is required", field="token")
    if not isinstance(card_token, str) or not card_token:
        raise ApiError(422, "invalid_field", "card.token is required", field="card.token")
    if str(payload.get("status") or "AUTHORIZATION").upper() not in LITHIC_HOLDING:
        return None
    hold = _obj(_obj(payload.get("amounts")).get("hold"))
    if hold.get("amount") is not None:
        amount = abs(_minor(hold["amount"], "amounts.hold.amount"))
    else:
        amount = abs(_minor(payload.get("amount"), "amount"))
    currency = str(hold.get("currency") or payload.get("cardholder_currency") or "").upper()
    if not currency:
        raise ApiError(422, "invalid_field", "the currency is never assumed: amounts.hold.currency is required",
                       field="amounts.hold.currency")
    if amount == 0:
        return None
    merchant = _obj(payload.get("merchant")).get("descriptor")
    version = _text(payload.get("event_token")) or token
    return Hold("lithic", f"lithic:{token}:hold:{version}", card_token, amount, currency, _text(payload.get("created")),
                f"Lithic card authorization {token} ({merchant})",
                {"transaction_token": token, "card_token": card_token, "hold_id": token, "version_id": version})


@router.post("/api/cards/lithic/asa")
async def lithic_asa(request: Request) -> JSONResponse:
    """Answer a Lithic Auth Stream Access request: ``{"token", "result": "APPROVED" | "INSUFFICIENT_FUNDS"
    | ...}``. Signed as Lithic's webhooks are (``webhook-signature``, ``LITHIC_WEBHOOK_SECRET``)."""
    body, payload = await deps.signed_json_body(request)
    try:
        signatures.verify_standard_webhook(body, request.headers)
    except signatures.SignatureError as exc:
        raise _refuse(exc) from None
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_field", "an ASA request is a JSON object", field="body")
    hold = lithic_hold(payload)
    decision = Decision(True) if hold is None else await _decide(request, hold)
    # Lithic's results: a decline for anything but the balance (no linked card, another currency, a closed
    # account) is CARD_PAUSED, the card cannot be used as it stands
    result = "APPROVED" if decision.approved else (
        "INSUFFICIENT_FUNDS" if decision.reason == "insufficient_funds" else "CARD_PAUSED")
    return JSONResponse({"token": payload["token"], "result": result})


# -- Marqeta Gateway JIT Funding ------------------------------------------------------------------------------


def marqeta_hold(payload: dict[str, Any]) -> tuple[Hold | None, dict[str, Any]]:
    """The hold a JIT Funding request asks for, and its ``jit_funding`` object. The transaction's amount
    is a decimal in major units: converted exactly (more decimals than the currency has are refused)."""
    from connectors.common.amounts import minor_units
    from ledger_common.money import AmountError

    jit = _obj(payload.get("gpa_order")).get("jit_funding")
    if not isinstance(jit, dict) or not jit.get("token"):
        raise ApiError(422, "invalid_field", "gpa_order.jit_funding.token is required",
                       field="gpa_order.jit_funding")
    token, card_token = payload.get("token"), payload.get("card_token")
    if not isinstance(token, str) or not token or not isinstance(card_token, str) or not card_token:
        raise ApiError(422, "invalid_field", "token and card_token are required", field="card_token")
    if jit.get("method") not in MARQETA_HOLDING:
        return None, jit
    currency = str(payload.get("currency_code") or "").upper()
    if not currency:
        raise ApiError(422, "invalid_field", "currency_code is required (the currency is never assumed)",
                       field="currency_code")
    try:
        amount = minor_units(jit.get("amount", payload.get("amount")), currency)
    except (AmountError, InvalidOperation, ValueError) as exc:
        raise ApiError(422, "invalid_amount", f"gpa_order.jit_funding.amount: {exc}",
                       field="gpa_order.jit_funding.amount") from None
    if not amount:
        return None, jit
    merchant = _obj(payload.get("card_acceptor")).get("name")
    return Hold("marqeta", f"marqeta:{token}:hold:{token}", card_token, abs(amount), currency,
                _text(payload.get("created_time") or payload.get("user_transaction_time")),
                f"Marqeta authorization hold {token} ({merchant})",
                {"hold_id": token, "version_id": token, "marqeta_type": str(payload.get("type") or "authorization"),
                 "card_token": card_token, "jit_funding_token": str(jit["token"])}), jit


@router.post("/api/cards/marqeta/jit_funding")
async def marqeta_jit_funding(request: Request) -> JSONResponse:
    """Answer a Marqeta Gateway JIT Funding request: 200 with the ``jit_funding`` object to fund it, 402
    with a ``decline_reason`` to deny it. HTTP Basic authentication as configured on the funding source
    (``MARQETA_WEBHOOK_USERNAME`` / ``MARQETA_WEBHOOK_PASSWORD``)."""
    _, payload = await deps.signed_json_body(request)
    try:
        signatures.verify_basic(request.headers.get("authorization"), "MARQETA")
    except signatures.SignatureError as exc:
        raise _refuse(exc) from None
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_field", "a JIT Funding request is a JSON object", field="body")
    hold, jit = marqeta_hold(payload)
    decision = Decision(True) if hold is None else await _decide(request, hold)
    answer = {key: jit[key] for key in ("token", "method", "user_token", "acting_user_token", "amount")
              if key in jit}
    answer = {key: str(value) if isinstance(value, Decimal) else value for key, value in answer.items()}
    if decision.approved:
        return JSONResponse({"jit_funding": answer})
    answer["decline_reason"] = "INSUFFICIENT_FUNDS" if decision.reason == "insufficient_funds" else \
        "INVALID_CARD" if decision.reason == "unknown_card" else "TRANSACTION_NOT_PERMITTED"
    return JSONResponse({"jit_funding": answer}, status_code=402)


async def _decide(request: Request, hold: Hold) -> Decision:
    """``place_hold`` on a worker thread (the writer blocks on the database)."""
    from starlette.concurrency import run_in_threadpool

    try:
        return await run_in_threadpool(place_hold, request, hold)
    except LedgerError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
