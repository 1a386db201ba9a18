"""The ``events`` table: what happened, for webhooks, the warehouse and alerting (``ledger_transaction.created``,
``payment_order.auto_ledgered``, ``pipeline.run_failed``...). Append-only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
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


def record_batch_events(conn: Connection, *, seq: int | None = None, extra_columns: str = "", extra_data: str = "",
                        extra_events: Sequence[tuple[str, str, str, str]] = ()) -> int:
    """The events of the batch just posted in this database transaction (the core's ``batch_txs``):
    ``ledger_transaction.created`` for each transaction it created, ``ledger_transaction.posted`` or
    ``.archived`` for each it moved; each event's data names the transaction and its status. A caller adds
    columns of the outcome (``extra_columns``, SQL over ``batch_txs b``), data pairs (``extra_data``, over
    the outcome ``o``) and events of its own (``(event type SQL, object type, object id SQL, condition)``).
    ``seq``: the write's change position when the caller has it (else it is read). All in one statement
    (events of one write share its change position and time: their order is their ids'). Returns the
    number of events recorded."""
    now = datetime.now(UTC)
    seq = conn.change_seq() if seq is None else seq
    outcome = ("SELECT CAST(COALESCE(b.existing_id, b.new_id) AS TEXT) AS tx_id, b.action, b.status" + extra_columns
               + " FROM batch_txs b WHERE b.action IN ('create', 'transition')")
    data = "CAST(" + conn.engine.json_object(f"'ledger_transaction_id', o.tx_id{extra_data}, 'status', o.status") \
        + " AS TEXT)"
    selects = [
        f"SELECT CAST(gen_random_uuid() AS TEXT), {event_type}, '{object_type}', {object_id}, {data}, "
        f"CAST(:now AS TIMESTAMPTZ), :seq FROM ({outcome}) o WHERE {where}"
        for event_type, object_type, object_id, where in (
            ("'ledger_transaction.created'", "ledger_transaction", "o.tx_id", "o.action = 'create'"),
            *extra_events,
            ("'ledger_transaction.' || o.status", "ledger_transaction", "o.tx_id", "o.action = 'transition'"),
        )
    ]
    return max(conn.execute(
        "INSERT INTO events (id, event_type, object_type, object_id, data, created_at, change_seq) "
        + " UNION ALL ".join(selects), {"now": now, "seq": seq}), 0)
