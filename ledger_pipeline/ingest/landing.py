"""Landing: append records to ``raw_records`` unless the same version of the object is already there.

The key is (source, stream, object_id, record_hash) with ``record_hash = md5(raw_json)``; the raw JSON of
a ``RawRecord`` is canonical (sorted keys), so the same object extracted twice hashes the same. Landing is
one set operation on both engines: bulk-load into a temporary table, anti-join, insert.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from connectors.common.records import RECORD_SCHEMA
from ledger_pipeline.ingest.mapping import MAP_INPUT_COLUMNS
from ledger_pipeline.ledger.stage_input import storable_text
from ledger_pipeline.ledger.store import Connection

_IN_DDL = ("ord BIGINT, source TEXT, stream TEXT, object_id TEXT, cursor_value TEXT, raw_json TEXT, "
           "fields_json TEXT, record_ref TEXT, record_type TEXT")

_NEW_DDL = ("source TEXT, stream TEXT, object_id TEXT, record_hash TEXT, record_type TEXT, cursor_value TEXT, "
            "record_ref TEXT, raw_json TEXT, fields_json TEXT, ord BIGINT")


_LANDED_DDL = ", ".join(f"{c} TEXT" for c in MAP_INPUT_COLUMNS)


def as_records_table(data: pa.Table) -> pa.Table:
    """Check and order the columns of a records table (``RECORD_SCHEMA``; ``record_type`` may be absent)."""
    if "record_type" not in data.column_names:
        data = data.append_column("record_type", pa.nulls(data.num_rows, pa.string()))
    missing = [c for c in RECORD_SCHEMA.names if c not in data.column_names]
    if missing:
        raise ValueError(f"records table lacks column(s) {', '.join(missing)}")
    return data.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)


def land_records(conn: Connection, records: pa.Table, *, batch_id: str, seq: int,
                 now: datetime | None = None) -> pa.Table:
    """Land ``records``; return the rows that were new (``MAP_INPUT_COLUMNS``, in input order).

    Duplicates inside ``records`` itself land once. Runs on the caller's database transaction.
    """
    landed = plan_landing(conn, records)
    commit_landing(conn, batch_id=batch_id, seq=seq, now=now)
    return landed


def plan_landing(conn: Connection, records: pa.Table, *, keep: bool = True) -> pa.Table:
    """The first half of ``land_records``: find the new records and return them. It only reads the store, so
    it may run before the writing transaction (see ``pipeline._LandMapPost``). With ``keep`` they
    also stay in the temporary table ``ingest_new`` for ``commit_landing``; without, the caller passes the
    returned table to ``commit_landing`` (no second copy of the raw JSON in the store's memory)."""
    # a NUL byte (no PostgreSQL text keeps one) lands as ``UNSTORABLE_MARK`` on every engine: a record type
    # or object id holding it is then refused by mapping or the core, and quarantined
    records = storable_text(as_records_table(records))
    ordinal = pa.array(range(records.num_rows), pa.int64())
    incoming = records.add_column(0, "ord", ordinal)
    conn.execute("DROP TABLE IF EXISTS ingest_new")
    # on DuckDB the Arrow table is scanned in place: no copy of the raw JSON into a temporary table
    with conn.arrow_relation("ingest_in", incoming, _IN_DDL):
        # A record repeated inside the input lands once (its first copy); the (sorting) window that picks
        # the first copy runs only when some object repeats, which a cheap aggregate tells first (without
        # hashing the raw JSON: when no object repeats, no version of one can).
        repeated = conn.scalar(
            "SELECT count(*) FROM (SELECT 1 FROM ingest_in GROUP BY source, stream, object_id "
            "HAVING count(*) > 1) d")
        hashed = "(SELECT i.*, md5(i.raw_json) AS record_hash FROM ingest_in i)"
        candidates = f"{hashed} c"
        if repeated:
            candidates = (f"(SELECT h.*, row_number() OVER (PARTITION BY h.object_id, h.record_hash, h.stream, "
                          f"h.source ORDER BY h.ord) AS copy_rank FROM {hashed} h) c")
        new = f"""
            FROM {candidates}
            WHERE {"copy_rank = 1 AND " if repeated else ""}NOT EXISTS (
                SELECT 1 FROM raw_records r
                WHERE r.object_id = c.object_id AND r.record_hash = c.record_hash AND r.source = c.source
                  AND r.stream = c.stream)"""
        if not keep:
            # only the new rows' positions and hashes come back from the store; Arrow picks the rows
            # themselves (no copy at all when every record is new), instead of the store writing and
            # re-reading the raw JSON
            found = conn.arrow(f"SELECT ord, record_hash {new} ORDER BY ord")
        else:
            conn.execute(f"CREATE TEMPORARY TABLE ingest_new ({_NEW_DDL})")
            conn.execute(f"""
                INSERT INTO ingest_new
                SELECT source, stream, object_id, record_hash, record_type, cursor_value, record_ref, raw_json,
                       fields_json, ord {new}
            """)
    if keep:
        select = ", ".join(c for c in MAP_INPUT_COLUMNS if c != "quarantine_id")
        return _as_map_input(
            conn.arrow(f"SELECT {select}, CAST(NULL AS TEXT) AS quarantine_id FROM ingest_new ORDER BY ord"))
    if found.num_rows == 0:  # (an empty result may carry untyped columns)
        return _as_map_input(found)
    rows = incoming if found.num_rows == incoming.num_rows else incoming.take(found.column("ord"))
    return _as_map_input(rows.append_column("record_hash", found.column("record_hash")).append_column(
        "quarantine_id", pa.nulls(found.num_rows, pa.string())))


def _as_map_input(landed: pa.Table) -> pa.Table:
    """The landed rows as the mapper reads them: ``MAP_INPUT_COLUMNS``, all text."""
    if landed.num_rows == 0:
        return pa.table({c: pa.array([], pa.string()) for c in MAP_INPUT_COLUMNS})
    return landed.select(list(MAP_INPUT_COLUMNS)).cast(pa.schema([(c, pa.string()) for c in MAP_INPUT_COLUMNS]))


def commit_landing(conn: Connection, *, batch_id: str, seq: int, now: datetime | None = None,
                   landed: pa.Table | None = None) -> None:
    """The second half of ``land_records``: append what ``plan_landing`` found to ``raw_records``, from
    ``ingest_new`` or from ``landed``, the table it returned (``keep=False``)."""
    append = """
        INSERT INTO raw_records (source, stream, object_id, record_hash, record_type, cursor_value, record_ref,
                                 raw_json, fields_json, landed_at, batch_id, change_seq)
        SELECT source, stream, object_id, record_hash, record_type, cursor_value, record_ref, raw_json,
               fields_json, :now, :batch_id, :seq
        FROM {source}"""
    params = {"now": now or datetime.now(UTC), "batch_id": batch_id, "seq": seq}
    # raw_records' rows are keyed (source, stream, object id, hash) and read by key or in a named order: the
    # append need not keep its input's order, and then DuckDB writes it on every core (1M Stripe records:
    # 3.9 s -> 1.9 s, most of it compressing the raw JSON)
    with conn.unordered_appends():
        if landed is None:
            conn.execute(append.format(source="ingest_new"), params)
            conn.execute("DROP TABLE IF EXISTS ingest_new")
            return
        with conn.arrow_relation("ingest_landed", landed, _LANDED_DDL):
            conn.execute(append.format(source="ingest_landed"), params)


def read_cursor(conn: Connection, source: str, stream: str) -> str | None:
    return conn.scalar("SELECT cursor FROM connector_cursors WHERE source = :source AND stream = :stream",
                       {"source": source, "stream": stream})


def save_cursor(conn: Connection, source: str, stream: str, cursor: str | None, *, seq: int,
                now: datetime | None = None) -> None:
    if cursor is None:
        return
    conn.execute("""
        INSERT INTO connector_cursors (source, stream, cursor, updated_at, change_seq)
        VALUES (:source, :stream, :cursor, :now, :seq)
        ON CONFLICT (source, stream) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at,
            change_seq = excluded.change_seq
    """, {"source": source, "stream": stream, "cursor": cursor, "now": now or datetime.now(UTC), "seq": seq})
