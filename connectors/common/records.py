"""The common raw-record shape every connector returns, and its columnar form for bulk landing.

``fields`` holds the values the mapping reads, already typed and normalised: amounts as ``int`` minor
units (signed as the source signs them), currency codes upper-case, timestamps as ISO-8601 UTC text
(``2024-01-31T12:00:00+00:00``), and ``type`` (the record type the mapping keys on). ``raw`` is the
source's payload as received, kept byte-for-byte meaningful for audit and replay.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

#: Columns of a records table (the bulk form of a list of ``RawRecord``).
RECORD_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("stream", pa.string()),
    ("object_id", pa.string()),
    ("cursor_value", pa.string()),
    ("raw_json", pa.string()),
    ("fields_json", pa.string()),
    ("record_ref", pa.string()),
    ("record_type", pa.string()),
])


@dataclass(frozen=True)
class RawRecord:
    source: str
    stream: str
    object_id: str
    cursor_value: str | None
    raw: dict
    fields: dict
    #: where the record came from, for error messages and quarantine (e.g. ``file.csv line 12``)
    record_ref: str | None = None

    def raw_json(self) -> str:
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)

    def fields_json(self) -> str:
        return json.dumps(self.fields, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class ExtractResult:
    records: list[RawRecord]
    cursor: str | None


def records_to_arrow(records: Iterable[RawRecord]) -> pa.Table:
    """A list of records as a records table (``RECORD_SCHEMA``)."""
    rows: dict[str, list[Any]] = {name: [] for name in RECORD_SCHEMA.names}
    for r in records:
        rows["source"].append(r.source)
        rows["stream"].append(r.stream)
        rows["object_id"].append(r.object_id)
        rows["cursor_value"].append(r.cursor_value)
        rows["raw_json"].append(r.raw_json())
        rows["fields_json"].append(r.fields_json())
        rows["record_ref"].append(r.record_ref)
        rows["record_type"].append(None if r.fields.get("type") is None else str(r.fields["type"]))
    return pa.table(rows, schema=RECORD_SCHEMA)


def arrow_to_records(table: pa.Table) -> list[RawRecord]:
    """The inverse of ``records_to_arrow`` (for small tables: tests, the ``parse`` command)."""
    out = []
    for row in table.select(RECORD_SCHEMA.names).to_pylist():
        out.append(RawRecord(
            source=row["source"], stream=row["stream"], object_id=row["object_id"],
            cursor_value=row["cursor_value"], raw=json.loads(row["raw_json"]),
            fields=json.loads(row["fields_json"]), record_ref=row["record_ref"],
        ))
    return out
