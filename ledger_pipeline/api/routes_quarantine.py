"""Quarantine over HTTP: list the refused records (filtered, paged), replay them once their cause is
fixed, discard those that must never post. The functions are the ones ``ledger-pipeline quarantine
list|replay|discard`` runs (``ledger_pipeline.ledger.quarantine`` and ``admin.discard_quarantined``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from ledger_pipeline.api import deps
from ledger_pipeline.api.app import ApiError, Read, Write, _listed, _parse_time, _per_page, _ts
from ledger_pipeline.ledger.store import Connection

router = APIRouter()

STATUSES = ("open", "replayed", "discarded")

_SELECT = ("SELECT q.id, q.batch_id, q.source, q.ledger_name, q.external_id, q.reason_code, q.reason, q.record_ref, "
           "q.raw_payload, q.status, q.attempts, q.created_at, q.resolved_at, q.resolution FROM quarantine q")


class ReplayRequest(deps.TextBody):
    ids: list[str] | None = Field(default=None, description="Only these items (default: every open one).")
    reason_code: str | None = Field(default=None, description="Only items with this reason code.")


class DiscardRequest(deps.TextBody):
    reason: str = Field(min_length=1, description="Why the record will never post (kept with it and audited).")


def _render(row: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = json.loads(row["raw_payload"])
    except ValueError:
        payload = row["raw_payload"]
    return {"id": row["id"], "object": "quarantine_item", "status": row["status"], "reason_code": row["reason_code"],
            "reason": row["reason"], "source": row["source"], "ledger_name": row["ledger_name"],
            "external_id": row["external_id"], "record_ref": row["record_ref"], "batch_id": row["batch_id"],
            "attempts": int(row["attempts"]), "raw_payload": payload, "resolution": row["resolution"],
            "created_at": _ts(row["created_at"]), "resolved_at": _ts(row["resolved_at"])}


def _get(db: Connection, item_id: str) -> dict[str, Any]:
    rows = db.dicts(f"{_SELECT} WHERE q.id = :id", {"id": item_id})
    if not rows:
        raise ApiError(404, "not_found", f"quarantine item {item_id} not found")
    return _render(rows[0])


@router.get("/api/quarantine", tags=["quarantine"])
def list_quarantine(request: Request, _: Read, after_cursor: str | None = None) -> JSONResponse:
    """Refused records, oldest first. Filters: ``status`` (open, replayed, discarded), ``reason_code``,
    ``source``, ``external_id``, ``ledger_name``, ``created_at[gt|gte|lt|lte]``."""
    db = deps.conn(request)
    params: dict[str, Any] = {}
    where: list[str] = []
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(422, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}", field="status")
    for name in ("status", "reason_code", "source", "external_id", "ledger_name"):
        value = request.query_params.get(name)
        if value is not None:
            where.append(f"q.{name} = :{name}")
            params[name] = value
    operators = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    for name, value in request.query_params.multi_items():
        if name.startswith("created_at[") and name.endswith("]"):
            op = name[len("created_at["):-1]
            if op not in operators:
                raise ApiError(422, "invalid_parameter", "created_at takes [gt], [gte], [lt] or [lte]", field=name)
            where.append(f"q.created_at {operators[op]} CAST(:created_{op} AS TIMESTAMPTZ)")
            params[f"created_{op}"] = _parse_time(value, name)
    page = deps.created_page(db, _SELECT, where, params, table="quarantine", alias="q", after=after_cursor,
                             per_page=_per_page(request))
    return _listed(page, _render)


@router.get("/api/quarantine/{item_id}", tags=["quarantine"])
def get_quarantine_item(request: Request, item_id: str, _: Read) -> dict[str, Any]:
    return _get(deps.conn(request), item_id)


@router.post("/api/quarantine/replay", tags=["quarantine"])
def replay_quarantine(request: Request, key: Write,
                      body: Annotated[ReplayRequest | None, Body()] = None) -> dict[str, Any]:
    """Replay open items (all, the given ids, or one reason code) through the posting rules: those that post
    become ``replayed``, the others stay ``open`` with this attempt's reasons. Answers the batch's outcome."""
    from ledger_pipeline.ledger.quarantine import replay_quarantine as replay

    options = body or ReplayRequest()
    return replay(deps.store(request), ids=options.ids, reason_code=options.reason_code,
                  actor=deps.actor(key)).as_dict()


@router.post("/api/quarantine/{item_id}/replay", tags=["quarantine"])
def replay_quarantine_item(request: Request, item_id: str, key: Write) -> dict[str, Any]:
    """Replay one open item; answers the item afterwards (``replayed``, or still ``open`` with its reasons)."""
    from ledger_pipeline.ledger.quarantine import replay_quarantine as replay

    item = _get(deps.conn(request), item_id)
    if item["status"] != "open":
        raise ApiError(422, "invalid_request", f"quarantine item {item_id} is {item['status']}; only an open item "
                                               "can be replayed")
    replay(deps.store(request), ids=[item_id], actor=deps.actor(key))
    return _get(deps.conn(request), item_id)


@router.post("/api/quarantine/{item_id}/discard", tags=["quarantine"])
def discard_quarantine_item(request: Request, item_id: str, body: DiscardRequest, key: Write) -> dict[str, Any]:
    """Close an open item that must never post: kept, marked ``discarded`` with the reason, audited."""
    from ledger_pipeline.ledger.admin import discard_quarantined

    with deps.store(request).transaction() as db:
        discard_quarantined(db, item_id, body.reason, actor=deps.actor(key))
    return _get(deps.conn(request), item_id)
