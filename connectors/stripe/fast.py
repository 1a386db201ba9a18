"""The vectorised reader for very large JSON-lines exports of balance transactions (DuckDB, no Python
loop per row). It produces the same ``fields`` as ``helpers.normalise``; the raw JSON is the line as
written. Anything unusual (another object type, a malformed line, a non-integer amount) falls back to
the row-by-row reader, which names the offending line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from connectors.common.records import RECORD_SCHEMA

_SQL = """
WITH lines AS (
    SELECT json AS raw, json_extract_string(json, ['$.id', '$.object', '$.amount', '$.fee', '$.net',
        '$.currency', '$.created', '$.available_on', '$.status', '$.description', '$.reporting_category',
        '$.type', '$.source', '$.balance_type', '$.source.id']) AS v
    FROM read_json_objects($path, format = 'newline_delimited')
), typed AS (
    SELECT raw, v[1] AS id, v[2] AS object, TRY_CAST(v[3] AS BIGINT) AS amount, TRY_CAST(v[4] AS BIGINT) AS fee,
        TRY_CAST(v[5] AS BIGINT) AS net, upper(v[6]) AS currency, TRY_CAST(v[7] AS BIGINT) AS created,
        TRY_CAST(v[8] AS BIGINT) AS available_on, v[9] AS status, v[10] AS description,
        COALESCE(v[11], v[12]) AS rtype, v[12] AS bt_type, COALESCE(v[15], v[13]) AS source_id,
        v[14] AS balance_type,
        v[3] AS amount_text, v[4] AS fee_text, v[5] AS net_text
    FROM lines
)
SELECT 'stripe' AS source, 'balance_transactions' AS stream, id AS object_id,
    CAST(created AS VARCHAR) AS cursor_value, CAST(raw AS VARCHAR) AS raw_json,
    CAST(json_object(
        'amount', amount, 'fee', fee, 'net', net, 'currency', currency,
        'created', strftime(to_timestamp(created) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00'),
        'available_on', strftime(to_timestamp(available_on) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00'),
        'status', status, 'description', description, 'type', rtype, 'bt_type', bt_type,
        'source_id', source_id, 'balance_type', balance_type) AS VARCHAR) AS fields_json,
    CAST(NULL AS VARCHAR) AS record_ref, rtype AS record_type,
    (object IS DISTINCT FROM 'balance_transaction' OR id IS NULL OR created IS NULL
     OR (amount IS NULL AND amount_text IS NOT NULL) OR (fee IS NULL AND fee_text IS NOT NULL)
     OR (net IS NULL AND net_text IS NOT NULL)) AS unusual
FROM typed
"""


def read_jsonl(path: Path) -> pa.Table | list:
    con = duckdb.connect()
    try:
        table = con.execute(_SQL, {"path": str(path)}).to_arrow_table()
    except duckdb.Error:
        table = None
    finally:
        con.close()
    if table is None or pa.compute.any(table["unusual"]).as_py():
        from connectors.stripe import parse_file

        return parse_file(path, fast_threshold=float("inf"))
    # line numbers (the file has one object per line, blank lines aside) built in Arrow, not by a window
    lines = pa.compute.cast(pa.array(range(1, table.num_rows + 1), pa.int64()), pa.string())
    refs = pa.compute.binary_join_element_wise(f"{path}, line ", lines, "")
    table = table.set_column(table.column_names.index("record_ref"), "record_ref", refs)
    return table.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
