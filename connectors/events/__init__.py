"""Production events: an append-only feed of the product's own money events, as JSON lines
(``.jsonl``/``.ndjson``), a JSON array, or webhook deliveries saved one per ``.json`` file (the event
itself, or ``{"headers": ..., "body": <event or JSON text>}``).

Each event becomes a record of stream ``events``: ``object_id`` = its id (``id_field``, default ``id``),
``type`` = its type (``type_field``, default ``type``), and every nested value flattened into ``fields``
with dotted keys (``data.amount``, ``data.user_id``). Amounts must be integers of minor units (a
template that finds anything else quarantines the event as ``unmapped_field``); ``currency`` is lifted to
the top level (upper-case) from ``currency`` or ``data.currency``; ``created_at``/``occurred_at``/
``created`` become ISO-8601 UTC. The rules that turn events into transactions are in
ledger_pipeline/ingest/mappings/events.yaml (or a mapping given with ``--mapping``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.common.errors import ParseError
from connectors.common.files import json_lines, read_text
from connectors.common.records import RawRecord

_TIME_KEYS = ("created_at", "occurred_at", "created", "timestamp")


def _flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                _flatten(v, key + ".", out)
            else:
                out[key] = v
    return out


def _iso_utc(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value), tz=UTC).isoformat()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return value


def event_record(event: Any, ref: str, path: Path, *, id_field: str = "id", type_field: str = "type") -> RawRecord:
    if not isinstance(event, dict):
        raise ParseError(path, ref, "an event must be a JSON object")
    fields = _flatten(event)
    object_id = fields.get(id_field)
    kind = fields.get(type_field)
    if object_id in (None, ""):
        raise ParseError(path, ref, f"event without {id_field!r}")
    if kind in (None, ""):
        raise ParseError(path, ref, f"event {object_id} without {type_field!r}")
    fields["type"] = str(kind)
    currency = fields.get("currency") or fields.get("data.currency")
    if currency:
        fields["currency"] = str(currency).upper()
    for key in _TIME_KEYS:
        if key in fields:
            fields[key] = _iso_utc(fields[key])
    cursor = next((fields[k] for k in _TIME_KEYS if fields.get(k)), None)
    return RawRecord(source="events", stream="events", object_id=str(object_id), cursor_value=cursor,
                     raw=event, fields=fields, record_ref=ref)


def parse_file(path: Path, *, id_field: str = "id", type_field: str = "type", encoding: str = "utf-8",
               **_: Any) -> list[RawRecord]:
    """Args:
        path: a JSON-lines feed, a JSON array of events, or one saved webhook delivery.
        id_field / type_field: where the event's id and type are (dotted for nested keys).
    """
    path = Path(path)
    text = read_text(path, encoding)
    if not text.strip():
        raise ParseError(path, 1, "empty file")
    events: list[tuple[str, Any]]
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        events = json_lines(path, text)
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(path, exc.lineno, f"malformed JSON (truncated?): {exc.msg}") from None
        if isinstance(doc, dict) and "body" in doc:
            body = doc["body"]
            try:
                doc = json.loads(body) if isinstance(body, str) else body
            except json.JSONDecodeError as exc:
                raise ParseError(path, "body", f"webhook body is not JSON: {exc.msg}") from None
        if isinstance(doc, list):
            events = [(f"{path}, record {i}", e) for i, e in enumerate(doc, start=1)]
        else:
            events = [(str(path), doc)]
    return [event_record(e, ref, path, id_field=id_field, type_field=type_field) for ref, e in events]
