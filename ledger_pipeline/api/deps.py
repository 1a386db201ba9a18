"""What the route modules share with ``app``: the request's connection and store, the writing key's actor
name, keyset pages ordered by creation time, and the id an ``Idempotency-Key`` stands for."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from fastapi import Request
from pydantic import field_validator

from ledger_pipeline.api import keys as api_keys
from ledger_pipeline.api.app import ApiError, _Body
from ledger_pipeline.api.queries import Filters, Page, _where
from ledger_pipeline.ledger.store import Connection, Store


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


class TextBody(_Body):
    """A request body whose text may not hold a NUL byte: no PostgreSQL text or warehouse column can keep
    one (the core refuses it in ledger transactions as ``invalid_text``), so it is refused on both engines
    with 422 naming the field."""

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise ValueError("text may not hold a NUL byte")
        return value


def conn(request: Request) -> Connection:
    """The serving thread's connection (the one its ``LedgerWriter`` holds)."""
    return request.app.state.writers.get().conn


def store(request: Request) -> Store:
    return request.app.state.writers.store


def actor(key: api_keys.ApiKey) -> str:
    return f"api:{key.name}"


def idempotent_id(key: api_keys.ApiKey, idempotency_key: str | None) -> str:
    """A new object's id: derived from the ``Idempotency-Key`` (scoped to the API key), so a retry names
    the same object; random without one."""
    if idempotency_key:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ledger-pipeline:{key.id}:{idempotency_key}"))
    return str(uuid.uuid4())


def created_page(db: Connection, select: str, where: list[str], params: dict[str, Any], *, table: str, alias: str,
                 after: str | None, per_page: int) -> Page:
    """One page of ``select`` (rows aliased ``alias`` of ``table``), oldest first by ``(created_at, id)``;
    ``after`` is the id of the previous page's last row (ids of these tables are random, so creation time
    orders them)."""
    conditions = [*where, (
        f"(CAST(:after AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM {table} c WHERE c.id = :after AND "
        f"({alias}.created_at > c.created_at OR ({alias}.created_at = c.created_at AND {alias}.id > c.id))))")]
    sql = (f"{select} WHERE {' AND '.join(conditions)} ORDER BY {alias}.created_at, {alias}.id "
           f"LIMIT {int(per_page) + 1}")
    rows = db.dicts(sql, {**params, "after": after})
    if len(rows) > per_page:
        return Page(rows[:per_page], rows[per_page - 1]["id"])
    return Page(rows, None)


def metadata_where(db: Connection, request: Request, alias: str, params: dict[str, Any]) -> list[str]:
    """The ``metadata[key]=value`` filters of the query string as conditions on ``alias``'s metadata."""
    metadata = {name[len("metadata["):-1]: value for name, value in request.query_params.multi_items()
                if name.startswith("metadata[") and name.endswith("]") and len(name) > len("metadata[]")}
    return _where(db, alias, Filters(metadata=metadata), params)


async def signed_json_body(request: Request) -> tuple[bytes, Any]:
    """A signed request's raw bytes (what its signature covers) and their JSON, numbers kept exact as
    ``Decimal``; a body that is not JSON answers 422 ``invalid_json``."""
    body = await request.body()
    try:
        return body, json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise ApiError(422, "invalid_json", f"the body is not valid JSON ({exc})", field="body") from None
