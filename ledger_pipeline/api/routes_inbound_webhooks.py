"""Inbound webhooks of Stripe, Adyen, Lithic, Marqeta, Chargebee and the production-events feed.

Each delivery is verified by its provider's scheme (``signatures.py``; a bad or missing signature is
answered 401 and nothing is stored), then saved as the file the provider's connector reads and ingested
exactly as that file would be (``ingest.pipeline``): landed raw, mapped by the source's mapping, posted
through the core, with its lifecycle (card holds, clearings, reversals). A delivery repeated (providers
retry until they see a 2xx) lands nothing new and posts nothing twice.

A Stripe event lands its ``data.object`` (the object the Stripe connector reads); an event about an
object the connector does not read is acknowledged and not stored.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ledger_pipeline.api import deps, signatures
from ledger_pipeline.api.app import ApiError
from ledger_pipeline.ledger.errors import LedgerError

router = APIRouter(tags=["inbound webhooks"])


def _verified(check, *args) -> None:
    try:
        check(*args)
    except signatures.SignatureError as exc:
        raise ApiError(401, "invalid_signature", str(exc)) from None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "delivery"


async def _ingest(request: Request, source: str, content: bytes, name: str) -> dict[str, Any]:
    """Save ``content`` as ``<name>.json`` and ingest it as a ``source`` file would be."""
    from ledger_pipeline.ingest.pipeline import ingest_files_as_delivered

    store = request.app.state.writers.store

    def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix=f"{source}-webhook-") as folder:
            path = Path(folder) / f"{_safe(name)}.json"
            path.write_bytes(content)
            return ingest_files_as_delivered(store, source, [path]).as_dict()

    try:
        result = await run_in_threadpool(run)
    except LedgerError as exc:  # a ParseError or MappingError names the delivery and the record
        raise ApiError(422, "unreadable_delivery", str(exc)) from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a shape the connector does not read
        raise ApiError(422, "unreadable_delivery",
                       f"{source} delivery {name}: not in the shape the {source} connector reads "
                       f"({type(exc).__name__}: {exc})") from None
    return {"received": True, "source": source, "records_in": result.get("records_in"),
            "landed": result.get("landed")}


@router.post("/api/webhooks/stripe")
async def stripe_webhook(request: Request) -> JSONResponse:
    """Stripe events, signed with ``Stripe-Signature`` (``STRIPE_WEBHOOK_SECRET``)."""
    from connectors.stripe import settings as stripe_settings

    body, event = await deps.signed_json_body(request)
    _verified(signatures.verify_stripe, body, request.headers.get("stripe-signature"))
    data = event.get("data") if isinstance(event, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    event_id = event.get("id") if isinstance(event, dict) else None
    if not isinstance(obj, dict) or obj.get("object") not in stripe_settings.OBJECT_TO_STREAM:
        return JSONResponse({"received": True, "source": "stripe", "records_in": 0, "landed": 0})
    content = json.dumps(obj, default=str).encode()
    return JSONResponse(await _ingest(request, "stripe", content, f"event-{event_id or uuid.uuid4()}"))


@router.post("/api/webhooks/adyen")
async def adyen_webhook(request: Request) -> PlainTextResponse:
    """Adyen notifications (every item's ``additionalData.hmacSignature``, ``ADYEN_HMAC_KEY``); answered
    ``[accepted]`` as Adyen expects."""
    body, payload = await deps.signed_json_body(request)
    _verified(signatures.verify_adyen, payload)
    first = payload["notificationItems"][0]["NotificationRequestItem"]
    await _ingest(request, "adyen", body, f"notification-{first.get('pspReference') or uuid.uuid4()}")
    return PlainTextResponse("[accepted]")


@router.post("/api/webhooks/lithic")
async def lithic_webhook(request: Request) -> JSONResponse:
    """Lithic deliveries (``webhook-signature``, ``LITHIC_WEBHOOK_SECRET``)."""
    body, _ = await deps.signed_json_body(request)
    _verified(signatures.verify_standard_webhook, body, request.headers)
    return JSONResponse(await _ingest(request, "lithic", body, request.headers.get("webhook-id") or "delivery"))


@router.post("/api/webhooks/marqeta")
async def marqeta_webhook(request: Request) -> JSONResponse:
    """Marqeta ``transactions`` deliveries (HTTP Basic, ``MARQETA_WEBHOOK_USERNAME`` / ``_PASSWORD``)."""
    body, _ = await deps.signed_json_body(request)
    _verified(signatures.verify_basic, request.headers.get("authorization"), "MARQETA")
    return JSONResponse(await _ingest(request, "marqeta", body, f"delivery-{uuid.uuid4()}"))


@router.post("/api/webhooks/chargebee")
async def chargebee_webhook(request: Request) -> JSONResponse:
    """Chargebee events (HTTP Basic, ``CHARGEBEE_WEBHOOK_USERNAME`` / ``_PASSWORD``)."""
    body, event = await deps.signed_json_body(request)
    _verified(signatures.verify_basic, request.headers.get("authorization"), "CHARGEBEE")
    name = f"event-{(event.get('id') if isinstance(event, dict) else None) or uuid.uuid4()}"
    return JSONResponse(await _ingest(request, "chargebee", body, name))


@router.post("/api/webhooks/events")
async def events_webhook(request: Request) -> JSONResponse:
    """The production-events feed: one event or a JSON array of them (``X-Signature-256``,
    ``EVENTS_WEBHOOK_SECRET``)."""
    body, _ = await deps.signed_json_body(request)
    _verified(signatures.verify_events, body, request.headers)
    return JSONResponse(await _ingest(request, "events", body, f"delivery-{uuid.uuid4()}"))
