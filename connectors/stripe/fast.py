"""The vectorised reader for very large JSON-lines exports of balance transactions (DuckDB, no Python
loop per row).

It reads exactly what the row-by-row reader (``parse_file`` with ``helpers.normalise``) reads: the same
``object_id``, ``cursor_value``, ``record_type``, ``record_ref`` and the same ``fields`` (amounts as exact
integers of minor units, timestamps as ISO-8601 UTC text, currency upper-case, absent and null values left
out as ``normalise`` leaves them out). The raw JSON is the line as written.

Every line is checked against the row-by-row reader's rules before anything is returned. A line that
reader would refuse (an amount that is not a JSON integer: ``100.5``, ``1e2``, ``"0x10"``, ``true``; an
object without an id; a malformed line) or would read in a way this reader does not reproduce (another
object type, a timestamp that is not a JSON integer, an integer beyond 64 bits, a non-ASCII currency,
duplicate keys...) sends the whole file to the row-by-row reader, which accepts or refuses it with its own
error naming the line. Nothing is rounded or cast: a value either passes the check as it is or the file
takes the other path.

The file is read by its name, never as a glob pattern (``*``, ``?``, ``[`` in a name are plain characters).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connectors.common.files import read_text
from connectors.common.records import RECORD_SCHEMA

#: characters that make Python's ``str.splitlines`` or ``json.loads`` (strict) differ from a split on
#: ``\n`` and DuckDB's JSON reader: control characters (a raw tab or NUL in a string is refused by
#: ``json.loads``), and the extra line breaks of ``splitlines``
_NEEDS_ROW_READER = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f\x85\u2028\u2029]")

#: text DuckDB's JSON reader accepts and ``json.loads`` refuses: trailing commas, ``nan`` / ``inf`` in any
#: case (``NaN`` and ``Infinity`` are accepted by both and are matched too, which only costs the fast path).
#: (An escaped lone UTF-16 surrogate, which ``json.loads`` accepts, is invalid to DuckDB, and so is any
#: other malformed line: the query fails and the file goes to the row-by-row reader.)
_ODD_JSON = r",\s*[\]}]|[\[:,]\s*[-+]?(?i:nan|inf)"

#: the JSON paths of every value read; the value at position i (from 1) is read into columns t_i (its JSON
#: type) and s_i (as text)
_PATHS = (
    "id", "object",
    "amount", "fee", "net", "amount_refunded", "amount_captured", "amount_reversed",
    "created", "available_on", "arrival_date",
    "currency",
    "status", "description", "balance_type", "reason", "method",
    "source", "charge", "payment_intent", "balance_transaction", "destination", "payout", "customer",
    "source.id", "charge.id", "payment_intent.id", "balance_transaction.id", "destination.id", "payout.id",
    "customer.id",
    "reporting_category", "type",
)
_AT = {name: i + 1 for i, name in enumerate(_PATHS)}  # DuckDB lists are 1-based
_AMOUNTS = ("amount", "fee", "net", "amount_refunded", "amount_captured", "amount_reversed")
_TIMES = ("created", "available_on", "arrival_date")
_TEXTS = ("status", "description", "balance_type", "reason", "method")
_REFS = ("source", "charge", "payment_intent", "balance_transaction", "destination", "payout", "customer")
#: the Unix seconds whose ISO text DuckDB writes as Python does (four-digit years, no sign)
_MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z


def _t(name: str) -> str:
    return f"t_{_AT[name]}"


def _s(name: str) -> str:
    return f"s_{_AT[name]}"


def _absent(name: str) -> str:
    """Missing, or JSON null: ``normalise`` skips both."""
    return f"({_t(name)} IS NULL OR {_t(name)} = 'NULL')"


def _is_int64(name: str) -> str:
    """A JSON integer literal (no fraction, no exponent, not a string) that fits in 64 bits."""
    return f"({_t(name)} IN ('BIGINT', 'UBIGINT') AND TRY_CAST({_s(name)} AS BIGINT) IS NOT NULL)"


def _is_text(name: str) -> str:
    return f"({_t(name)} = 'VARCHAR')"


def _checks() -> list[str]:
    """Conditions every line must meet for this reader to read it as ``normalise`` does."""
    out = [
        "NOT regexp_matches(line, $odd)",
        # json.loads keeps the last of duplicate keys, DuckDB the first
        "len(keys) = len(list_distinct(keys))",
        # (an id read as text also means the line is a JSON object)
        f"{_is_text('id')} AND {_s('id')} <> ''",
        f"{_is_text('object')} AND {_s('object')} = 'balance_transaction'",
        # str.upper and DuckDB's upper agree on ASCII only
        f"({_absent('currency')} OR ({_is_text('currency')} AND regexp_full_match({_s('currency')}, '[ -~]*')))",
        f"({_absent('reporting_category')} OR {_is_text('reporting_category')})",
        f"({_absent('type')} OR {_is_text('type')})",
    ]
    out += [f"({_absent(n)} OR {_is_int64(n)})" for n in _AMOUNTS]
    # the row-by-row reader flags a balance transaction whose amount - fee is not its net (gross_fee_net_mismatch)
    out.append(f"({_absent('amount')} OR {_absent('fee')} OR {_absent('net')} OR "
               f"TRY_CAST({_s('amount')} AS HUGEINT) - TRY_CAST({_s('fee')} AS HUGEINT) "
               f"= TRY_CAST({_s('net')} AS HUGEINT))")
    out += [f"({_absent(n)} OR ({_is_int64(n)} AND TRY_CAST({_s(n)} AS BIGINT) BETWEEN 0 AND {_MAX_EPOCH}))"
            for n in _TIMES]
    out += [f"({_absent(n)} OR {_is_text(n)})" for n in _TEXTS]
    out += [f"({_absent(n)} OR {_is_text(n)} OR CASE WHEN {_t(n)} = 'OBJECT' AND {_is_text(n + '.id')} "
            f"THEN len(json_keys(j, '$.{n}')) = len(list_distinct(json_keys(j, '$.{n}'))) ELSE false END)"
            for n in _REFS]
    return out


def _entries() -> list[str]:
    """``fields`` as ``"key":value`` texts; a NULL one is left out, as ``normalise`` leaves the key out."""
    iso = "strftime(to_timestamp(TRY_CAST({v} AS BIGINT)) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S+00:00')"

    def text(value: str) -> str:
        return f"CAST(to_json({value}) AS VARCHAR)"

    out = [f"'\"{n}\":' || CAST(TRY_CAST({_s(n)} AS BIGINT) AS VARCHAR)" for n in _AMOUNTS]
    out += [f"'\"{n}\":' || {text(iso.format(v=_s(n)))}" for n in _TIMES]
    currency = "upper(NULLIF({}, ''))".format(_s("currency"))
    out.append(f"'\"currency\":' || {text(currency)}")
    out += [f"'\"{n}\":' || {text(_s(n))}" for n in _TEXTS]
    for n in _REFS:
        value = "CASE {} WHEN 'OBJECT' THEN {} ELSE {} END".format(_t(n), _s(n + ".id"), _s(n))
        out.append(f"'\"{n}_id\":' || {text(value)}")
    # type and bt_type are always there, null or not
    out.append(f"'\"type\":' || COALESCE({text('rtype')}, 'null')")
    out.append(f"'\"bt_type\":' || COALESCE({text(_s('type'))}, 'null')")
    return out


def _sql() -> str:
    paths = ", ".join(f"'$.{p}'" for p in _PATHS)
    columns = ", ".join(f"t[{i}] AS t_{i}, s[{i}] AS s_{i}" for i in _AT.values())
    return f"""
WITH src AS (
    SELECT line_no, line, line AS j FROM lines
), lists AS MATERIALIZED (
    SELECT line_no, line, j, json_keys(j) AS keys, json_type(j, [{paths}]) AS t,
        json_extract_string(j, [{paths}]) AS s
    FROM src
), typed AS MATERIALIZED (
    SELECT line_no, line, j, keys, {columns} FROM lists
), read AS (
    SELECT *, CASE WHEN {_s('reporting_category')} <> '' THEN {_s('reporting_category')}
                   ELSE {_s('type')} END AS rtype
    FROM typed
)
SELECT 'stripe' AS source, 'balance_transactions' AS stream, {_s('id')} AS object_id,
    CAST(TRY_CAST({_s('created')} AS BIGINT) AS VARCHAR) AS cursor_value, line AS raw_json,
    '{{' || concat_ws(',', {', '.join(_entries())}) || '}}' AS fields_json,
    $path || ', line ' || CAST(line_no AS VARCHAR) AS record_ref, rtype AS record_type
FROM read
WHERE {' AND '.join(_checks())}
ORDER BY line_no
"""


_SQL = _sql()


def read_fast(path: Path) -> pa.Table | None:
    """The records of ``path`` read in DuckDB, or ``None`` when some line needs the row-by-row reader
    (to be refused by it with its error, or read by it)."""
    path = Path(path)
    text = read_text(path)  # decoded (and refused) as the row-by-row reader decodes it
    if _NEEDS_ROW_READER.search(text) or text.count("\r") != text.count("\r\n"):
        return None
    # physical lines, numbered as ``splitlines`` numbers them; blank ones are skipped, as there
    lines = pc.list_flatten(pc.split_pattern(pa.array([text], pa.large_string()), "\n"))
    del text
    numbers = pc.cumulative_sum(pa.nulls(len(lines), pa.int64()).fill_null(1))  # 1, 2, ... without a loop
    lines = pc.utf8_rtrim(lines, "\r")
    keep = pc.not_equal(pc.utf8_trim(lines, " \r\n"), "")
    table = pa.table({"line_no": numbers, "line": lines}).filter(keep)
    if table.num_rows < 2:
        # one object alone is read as a JSON document (named by the file, not a line)
        return None
    con = duckdb.connect()
    try:
        con.register("lines", table)
        result = con.execute(_SQL, {"path": str(path), "odd": _ODD_JSON}).to_arrow_table()
    except duckdb.Error:
        # whatever DuckDB cannot read is read (or refused) by the row-by-row reader
        return None
    finally:
        con.close()
    if result.num_rows != table.num_rows:
        return None
    return result.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)


def read_jsonl(path: Path) -> pa.Table | list:
    """The records of a JSON-lines file of balance transactions: from DuckDB when every line passes the
    row-by-row reader's rules, else from the row-by-row reader (which refuses the file, naming the line)."""
    table = read_fast(path)
    if table is not None:
        return table
    from connectors.stripe import parse_file

    return parse_file(path, fast_threshold=float("inf"))
