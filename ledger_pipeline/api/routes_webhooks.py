"""Outbound webhook endpoints over HTTP (the same as ``ledger-pipeline webhooks add|list|remove``, and the
way to configure them while a server holds a DuckDB file). Delivery itself: ``api.webhooks``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from ledger_pipeline.api import deps
from ledger_pipeline.api import webhooks as hooks
from ledger_pipeline.api.app import ApiError, Read, Write, _ts

router = APIRouter()


class WebhookEndpointCreate(deps.TextBody):
    url: str = Field(min_length=1, description="The receiver's URL (http:// or https://).")
    event_types: list[str] | None = Field(default=None, description="Event types to deliver (default: every "
                                                                    "event).")
    secret: str | None = Field(default=None, min_length=16, description="The signing secret (default: a new "
                                                                        "random one, returned once).")
    from_start: bool = Field(default=False, description="Also deliver every event already in the store.")


def _render(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "object": "webhook_endpoint", "url": row["url"],
            "event_types": row["event_types"].split(), "delivered": int(row["delivered"]),
            "attempts": int(row["attempts"]), "next_attempt_at": _ts(row["next_attempt_at"]),
            "last_error": row["last_error"], "created_at": _ts(row["created_at"]),
            "removed_at": _ts(row["removed_at"])}


def _get(request: Request, endpoint_id: str) -> dict[str, Any]:
    found = [r for r in hooks.list_endpoints(deps.conn(request), include_removed=True) if r["id"] == endpoint_id]
    if not found:
        raise ApiError(404, "not_found", f"webhook endpoint {endpoint_id} not found")
    return _render(found[0])


@router.post("/api/webhook_endpoints", status_code=201, tags=["webhooks"])
def create_webhook_endpoint(request: Request, body: WebhookEndpointCreate, _: Write) -> JSONResponse:
    """Deliver events to a URL; the answer holds the signing ``secret`` (shown this once)."""
    with deps.store(request).transaction() as db:
        created = hooks.add_endpoint(db, body.url, body.event_types, secret=body.secret, from_start=body.from_start)
    return JSONResponse({**_get(request, created["id"]), "secret": created["secret"]}, status_code=201)


@router.get("/api/webhook_endpoints", tags=["webhooks"])
def list_webhook_endpoints(request: Request, _: Read) -> list[dict[str, Any]]:
    """Active endpoints with their delivery state (never their secrets)."""
    return [_render(row) for row in hooks.list_endpoints(deps.conn(request))]


@router.get("/api/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
def get_webhook_endpoint(request: Request, endpoint_id: str, _: Read) -> dict[str, Any]:
    return _get(request, endpoint_id)


@router.delete("/api/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
def remove_webhook_endpoint(request: Request, endpoint_id: str, _: Write) -> dict[str, Any]:
    """Stop delivering to an endpoint (kept, with ``removed_at``)."""
    with deps.store(request).transaction() as db:
        hooks.remove_endpoint(db, endpoint_id)
    return _get(request, endpoint_id)
