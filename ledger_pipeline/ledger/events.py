"""The ``events`` table: what happened, for webhooks, the warehouse and alerting (``ledger_transaction.created``,
``payment_order.auto_ledgered``, ``pipeline.run_failed``...). Append-only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ledger_pipeline.ledger.store import Connection


def record_event(conn: Connection, event_type: str, object_type: str, object_id: str,
                 data: Mapping[str, Any] | None = None) -> str:
    """Append one event; returns its id."""
    event_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO events (id, event_type, object_type, object_id, data, created_at, change_seq) "
        "VALUES (:id, :event_type, :object_type, :object_id, :data, :now, :seq)",
        {"id": event_id, "event_type": event_type, "object_type": object_type, "object_id": object_id,
         "data": json.dumps(dict(data or {}), sort_keys=True, default=str), "now": datetime.now(UTC),
         "seq": conn.change_seq()},
    )
    return event_id


def list_events(conn: Connection, event_type: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return conn.dicts(
        "SELECT id, event_type, object_type, object_id, data, created_at FROM events "
        "WHERE CAST(:event_type AS TEXT) IS NULL OR event_type = :event_type "
        f"ORDER BY created_at DESC, id LIMIT {int(limit)}",
        {"event_type": event_type},
    )
