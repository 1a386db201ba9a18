"""Mapping rules (YAML) and the vectorised mapper that turns landed records into staged ledger entries.

A mapping file has a chart of accounts and, per record type, a transaction template::

    source: stripe
    ledger: main
    accounts:
      balance:                       # the key templates refer to
        name: "stripe:balance:{currency}"   # {field} placeholders are filled from the record
        normal_balance: debit
        currency: from_record        # or a fixed code such as USD
        categories: [processor_balances]    # ledger account categories the account is put in
    categories:                      # optional: categories beyond the standard chart
      general_ledger: {normal_balance: debit, description: "...", parent: assets}
    templates:
      - type: charge                 # record type (fields.type); `types: [a, b]` for several
        streams: [balance_transactions]   # optional: only records of these streams
        effective_at: created        # field holding an ISO-8601 timestamp
        status: {field: status, map: {available: posted, pending: pending}, default: posted}
        description: "Stripe {type} {source_id}"
        metadata: [source_id, reporting_category]
        entries:
          - {account: balance, direction: debit, amount: net}
          - {account: fees, direction: debit, amount: fee}
          - {account: gross, direction: credit, amount: amount}
    ignore:
      streams: [charges]             # landed, deliberately not ledgered
      types: [contribution]

Amounts are signed integers of minor units. An entry's ``direction`` is the one for a positive amount; a
negative amount posts the opposite direction with its absolute value, and a zero amount posts no entry.
``amount: -fee`` negates a field. Because a template's entries balance as signed sums (for Stripe:
``net + fee = amount``), the transaction balances whatever the signs.

The mapper is one DuckDB query over the whole batch: the fields are extracted from ``fields_json`` once,
each record is assigned its template with a ``CASE``, and each template entry is a ``SELECT`` of a
``UNION ALL``. Values from the YAML reach SQL only as bound parameters; field names are validated.

An account's ``categories`` name categories of the standard chart (``ledger.categories.STANDARD_CATEGORIES``:
cash, processor_balances, revenue, fees, liabilities, receivables, expenses...) or of the mapping's own
``categories:``; when the chart is ensured, each category (and those above it) is created and every account
the batch creates is put in its categories, once (``assign_categories``).

Records that cannot be mapped are never dropped: an unknown record type is quarantined with reason
``unmapped_record_type``, a record lacking a field its template needs with ``unmapped_field``; the
quarantine payload is the landed record, and ``replay_unmapped`` maps it again after the YAML is fixed.
Accounts that do not exist (``create: false`` in the chart) are refused by the core (``unknown_account``)
and quarantined there with the staged rows, replayable by ``quarantine replay``.

A parser that finds a record failing its file's own control (a batch whose net is not its payout, a row
whose gross - fee is not its net) or a row it cannot read sets ``fields.quarantine = {"code", "detail"}``:
the record is landed and quarantined with that reason code (even in a stream the mapping ignores), never
posted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from ledger_pipeline import paths
from ledger_pipeline.ledger.categories import STANDARD_CATEGORIES, CategorySpec, categories_with_ancestors
from ledger_pipeline.ledger.errors import InputError
from ledger_pipeline.ledger.stage_input import UNSTORABLE_MARK
from ledger_pipeline.ledger.staging import RAW_COLUMNS
from ledger_pipeline.ledger.store import in_scan_batches

UNMAPPED_RECORD_TYPE = "unmapped_record_type"
UNMAPPED_FIELD = "unmapped_field"
_UNSTORABLE = re.compile(f"[\x00{UNSTORABLE_MARK}]")


def _shown(path: str | Path) -> str:
    """A mapping file as a quarantine reason names it: a bundled one by its place in the package
    (``ledger_pipeline/ingest/mappings/stripe.yaml``), another relative to the working directory."""
    target = Path(path).resolve()
    if target.is_relative_to(paths.PACKAGE_DIR.parent):
        return target.relative_to(paths.PACKAGE_DIR.parent).as_posix()
    return paths.relative_path(target)


_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DIRECTIONS = ("debit", "credit")

#: Columns of the mapper's input (a records table plus its landing key); see ``landing.py``.
MAP_INPUT_COLUMNS = ("source", "stream", "object_id", "record_hash", "record_type", "cursor_value",
                     "record_ref", "raw_json", "fields_json", "quarantine_id")

STAGED_SCHEMA = pa.schema(
    [("line", pa.int64()), ("record_ref", pa.string()), ("quarantine_id", pa.string())]
    + [(c, pa.string()) for c in RAW_COLUMNS]
)


class MappingError(InputError):
    """A mapping file that is not valid (names the file and the offending key)."""


def _text(value: Any, where: str) -> str:
    """A YAML value that must be non-empty text (a name, a record type, a status)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise MappingError(f"{where} is {'missing' if value is None else 'empty' if value in ('', [], {}) else 'not text'}"
                           f" ({value!r}): give a non-empty value")
    return str(value)


def _mapping_at(value: Any, where: str) -> MappingABC[str, Any]:
    if not isinstance(value, MappingABC) or not value:
        raise MappingError(f"{where} is {'missing' if value is None else 'empty' if not value else 'not a mapping'}"
                           f" ({value!r}): give a mapping of its keys")
    return value


def _list_at(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise MappingError(f"{where} is {'missing' if value is None else 'empty' if not value else 'not a list'}"
                           f" ({value!r}): give a list")
    return value


def _check_field(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _FIELD.match(name):
        raise MappingError(f"{where}: {name!r} is not a valid field name (letters, digits, _ and .)")
    return name


@dataclass(frozen=True)
class ChartAccount:
    key: str
    name: str
    normal_balance: str
    currency: str | None  # None: the record's currency
    description: str | None = None
    create: bool = True
    categories: tuple[str, ...] = ()

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.name))


@dataclass(frozen=True)
class EntryTemplate:
    account: str
    direction: str
    amount: str
    negate: bool = False


@dataclass(frozen=True)
class TransactionTemplate:
    types: tuple[str, ...]
    entries: tuple[EntryTemplate, ...]
    effective_at: str
    streams: tuple[str, ...] | None = None
    status_field: str | None = None
    status_map: tuple[tuple[str, str], ...] = ()
    status_default: str = "posted"
    description: str | None = None
    metadata: tuple[str, ...] = ()
    currency_field: str = "currency"


@dataclass(frozen=True)
class Mapping:
    source: str
    ledger: str
    accounts: MappingABC[str, ChartAccount]
    templates: tuple[TransactionTemplate, ...]
    ignore_streams: frozenset[str] = field(default_factory=frozenset)
    ignore_types: frozenset[str] = field(default_factory=frozenset)
    path: str | None = None
    categories: MappingABC[str, CategorySpec] = field(default_factory=lambda: dict(STANDARD_CATEGORIES))

    def field_names(self) -> list[str]:
        """Every record field any template reads, in a stable order."""
        names: list[str] = []

        def add(n: str | None) -> None:
            if n and n not in names:
                names.append(n)

        for t in self.templates:
            add(t.effective_at)
            add(t.status_field)
            add(t.currency_field)
            for e in t.entries:
                add(e.amount)
                for p in self.accounts[e.account].placeholders:
                    add(p)
            for p in _PLACEHOLDER.findall(t.description or ""):
                add(p)
            for m in t.metadata:
                add(m)
        return names


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def parse_mapping(data: MappingABC[str, Any], *, path: str | None = None) -> Mapping:
    """Validate a mapping document (as loaded from YAML)."""
    where = path or "mapping"
    if not isinstance(data, MappingABC):
        raise MappingError(f"{where}: expected a mapping at the top level")
    source = data.get("source")
    if not isinstance(source, str) or not source:
        raise MappingError(f"{where}: 'source' is required")
    categories = _parse_categories(data.get("categories"), where)
    accounts: dict[str, ChartAccount] = {}
    chart = data.get("accounts") or {}
    if not isinstance(chart, MappingABC):
        raise MappingError(f"{where}: accounts is not a mapping ({chart!r}): give a mapping of account keys")
    for key, spec in chart.items():
        if not isinstance(spec, MappingABC):
            raise MappingError(f"{where}: accounts.{key} must be a mapping")
        normal = spec.get("normal_balance")
        if normal not in _DIRECTIONS:
            raise MappingError(f"{where}: accounts.{key}.normal_balance must be debit or credit")
        currency = spec.get("currency", "from_record")
        currency = None if currency in (None, "from_record") else str(currency).upper()
        name = _text(spec["name"], f"{where}: accounts.{key}.name") if "name" in spec else str(key)
        account = ChartAccount(key=str(key), name=name, normal_balance=normal,
                               currency=currency, description=spec.get("description"),
                               create=bool(spec.get("create", True)),
                               categories=_as_tuple(spec.get("categories")))
        for name in account.categories:
            if name not in categories:
                raise MappingError(f"{where}: accounts.{key}.categories: {name!r} is neither a standard category "
                                   f"nor one of the mapping's categories ({', '.join(sorted(categories))})")
        for p in account.placeholders:
            _check_field(p, f"{where}: accounts.{key}.name")
        if currency is None and "currency" not in account.placeholders:
            raise MappingError(f"{where}: accounts.{key} takes its currency from the record, so its name "
                               "must contain {currency} (an account holds one currency)")
        accounts[account.key] = account
    templates = []
    for i, spec in enumerate(_list_at(data.get("templates"), f"{where}: templates")):
        at = f"{where}: templates[{i}]"
        spec = _mapping_at(spec, at)
        if "types" not in spec and "type" not in spec:
            raise MappingError(f"{at}: 'type' (or 'types') is required")
        kinds = spec.get("types", spec.get("type"))
        types = tuple(_text(t, f"{at}.type") for t in (_list_at(kinds, f"{at}.types") if isinstance(kinds, list)
                                                        or "types" in spec else [kinds]))
        if "streams" in spec:
            streams = spec["streams"]
            for stream in streams if isinstance(streams, list) else [streams]:
                _text(stream, f"{at}.streams")
        entries = []
        for j, e in enumerate(_list_at(spec.get("entries"), f"{at}.entries")):
            e = _mapping_at(e, f"{at}.entries[{j}]")
            account = _text(e.get("account"), f"{at}.entries[{j}].account")
            if account not in accounts:
                raise MappingError(f"{at}.entries[{j}]: account {account!r} is not in the chart of accounts")
            if e.get("direction") not in _DIRECTIONS:
                raise MappingError(f"{at}.entries[{j}]: direction must be debit or credit")
            amount = _text(e.get("amount"), f"{at}.entries[{j}].amount")
            negate = amount.startswith("-")
            entries.append(EntryTemplate(account=account, direction=e["direction"],
                                         amount=_check_field(amount.lstrip("-"), f"{at}.entries[{j}].amount"),
                                         negate=negate))
        if len(entries) < 2:
            raise MappingError(f"{at}: a transaction template needs at least two entries")
        status = spec.get("status", "posted")
        if isinstance(status, MappingABC):
            status_field = _check_field(status.get("field"), f"{at}.status.field")
            status_map = tuple(sorted((str(k), str(v)) for k, v in (status.get("map") or {}).items()))
            status_default = str(status.get("default", "posted"))
        else:
            status_field, status_map, status_default = None, (), _text(status, f"{at}.status")
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            raise MappingError(f"{at}.description is not text ({description!r}): give a text with {{field}} "
                               "placeholders, or leave it out")
        for p in _PLACEHOLDER.findall(description or ""):
            _check_field(p, f"{at}.description")
        templates.append(TransactionTemplate(
            types=types, entries=tuple(entries),
            effective_at=_check_field(spec.get("effective_at", "created"), f"{at}.effective_at"),
            streams=_as_tuple(spec.get("streams")) or None,
            status_field=status_field, status_map=status_map, status_default=status_default,
            description=description,
            metadata=tuple(_check_field(m, f"{at}.metadata") for m in _as_tuple(spec.get("metadata"))),
            currency_field=_check_field(spec.get("currency_field", "currency"), f"{at}.currency_field"),
        ))
    ignore = data.get("ignore") or {}
    return Mapping(source=source, ledger=str(data.get("ledger", "main")), accounts=accounts,
                   templates=tuple(templates), ignore_streams=frozenset(_as_tuple(ignore.get("streams"))),
                   ignore_types=frozenset(_as_tuple(ignore.get("types"))), path=path, categories=categories)


def _parse_categories(data: Any, where: str) -> dict[str, CategorySpec]:
    """The standard chart of categories plus the mapping's own ``categories:`` (which may nest under
    standard ones; redefining a standard category is refused)."""
    chart = dict(STANDARD_CATEGORIES)
    if data is None:
        return chart
    if not isinstance(data, MappingABC):
        raise MappingError(f"{where}: 'categories' must be a mapping of category name to its definition")
    for name, spec in data.items():
        at = f"{where}: categories.{name}"
        if not isinstance(spec, MappingABC):
            raise MappingError(f"{at} must be a mapping")
        if name in STANDARD_CATEGORIES:
            raise MappingError(f"{at}: {name!r} is a standard category; use it without redefining it")
        if spec.get("normal_balance") not in _DIRECTIONS:
            raise MappingError(f"{at}.normal_balance must be debit or credit")
        currency = spec.get("currency")
        chart[str(name)] = CategorySpec(name=str(name), normal_balance=spec["normal_balance"],
                                        currency=str(currency).upper() if currency else None,
                                        description=spec.get("description"),
                                        parent=str(spec["parent"]) if spec.get("parent") else None)
    try:
        categories_with_ancestors(chart, chart)
    except InputError as exc:
        raise MappingError(f"{where}: categories: {exc}") from None
    return chart


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Load ``mappings/<name>`` (a bare file name) or a mapping file at a path. The same text is parsed
    once (every ingest run loads its source's rules; an edited file is parsed again)."""
    path = Path(name_or_path)
    if not path.exists() and not path.is_absolute():
        path = paths.MAPPINGS_DIR / str(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} not found") from None
    return _parsed_mapping(str(path), text)


@functools.lru_cache(maxsize=64)
def _parsed_mapping(path: str, text: str) -> Mapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    return parse_mapping(data, path=path)


class _Params:
    """Collects bound parameters so values from the YAML never become SQL text."""

    _USED = re.compile(r"\$(p\d+)\b")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def run(self, con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
        """Execute ``sql`` with exactly the parameters it uses (DuckDB refuses extra ones)."""
        used = set(self._USED.findall(sql))
        return con.execute(sql, {k: v for k, v in self.values.items() if k in used})


@dataclass(frozen=True)
class MappedBatch:
    """The mapper's output: staged entry rows for the core's ``post`` plus what could not be mapped."""

    entries: pa.Table  # STAGED_SCHEMA plus ``chart_key`` and ``account_currency``
    unmapped: pa.Table  # quarantine rows: reason_code, reason, external_id, record_ref, raw_payload, quarantine_id
    resolved_without_entries: pa.Table  # quarantine_id, resolution (replayed records now ignored / zero)
    records: int
    transactions: int
    ignored: int
    zero: int

    def accounts_to_ensure(self, mapping: Mapping) -> list[tuple[ChartAccount, str, str]]:
        """(chart account, concrete name, currency) for every account the entries use and may create."""
        if self.entries.num_rows == 0:
            return []
        con = duckdb.connect()
        try:
            con.register("e", self.entries)
            rows = con.execute("SELECT DISTINCT chart_key, account, account_currency FROM e "
                               "ORDER BY 1, 2, 3").fetchall()
        finally:
            con.close()
        out = []
        for key, name, currency in rows:
            chart = mapping.accounts[key]
            # a name or currency holding text no store keeps (a NUL byte) names no account: its entries are
            # refused by the core (invalid_text) and quarantined, on every engine
            if chart.create and name is not None and currency and not _UNSTORABLE.search(name + currency):
                out.append((chart, name, currency))
        return out


def _field_sql(names: list[str]) -> dict[str, str]:
    return {n: f"v[{i + 1}]" for i, n in enumerate(names)}


def _integer_sql(value: str) -> str:
    """An integer of minor units, or NULL: ``12.5`` or ``1e3`` is not silently rounded (TRY_CAST would)."""
    return f"CASE WHEN regexp_full_match({value}, '-?[0-9]{{1,38}}') THEN CAST({value} AS HUGEINT) END"


def _template_sql(text: str, col: dict[str, str], p: _Params, *, missing_as_empty: bool = False) -> str:
    """``"stripe:{type}:{currency}"`` as a SQL concatenation: NULL when a placeholder field is missing
    (account names), or with the field left empty (descriptions, ``missing_as_empty``)."""
    parts = []
    pos = 0
    for m in _PLACEHOLDER.finditer(text):
        if m.start() > pos:
            parts.append(p(text[pos:m.start()]))
        value = col[m.group(1)]
        parts.append(f"COALESCE({value}, '')" if missing_as_empty else value)
        pos = m.end()
    if pos < len(text):
        parts.append(p(text[pos:]))
    return "(" + " || ".join(parts or [p("")]) + ")"


def map_records(mapping: Mapping, records: pa.Table) -> MappedBatch:
    """Map a table of landed records (``MAP_INPUT_COLUMNS``) to staged entries, in one DuckDB query."""
    names = mapping.field_names()
    col = _field_sql(names)
    p = _Params()
    src = p(mapping.source)
    con = duckdb.connect()
    try:
        ordinal = pa.array(range(records.num_rows), pa.int64())
        con.register("input_records", in_scan_batches(
            records.select(list(MAP_INPUT_COLUMNS)).append_column("ord", ordinal)))
        paths_list = "[" + ", ".join(p('$."' + n.replace('"', "") + '"') for n in names) + "]" if names else None
        values = f"json_extract_string(fields_json, {paths_list})" if names else "CAST([] AS VARCHAR[])"

        tpl_cases, missing_cases = [], []
        for i, t in enumerate(mapping.templates):
            cond = f"record_type IN ({', '.join(p(x) for x in t.types)})"
            if t.streams:
                cond += f" AND stream IN ({', '.join(p(s) for s in t.streams)})"
            tpl_cases.append(f"WHEN {cond} THEN {i}")
            needed = [t.effective_at, t.currency_field] + [e.amount for e in t.entries]
            for e in t.entries:
                needed.extend(mapping.accounts[e.account].placeholders)
            needed = list(dict.fromkeys(needed))
            checks = []
            for n in needed:
                if n in {e.amount for e in t.entries}:
                    checks.append(f"CASE WHEN {_integer_sql(col[n])} IS NULL THEN {p(n)} END")
                elif n == t.effective_at:
                    checks.append(f"CASE WHEN TRY_CAST({col[n]} AS TIMESTAMPTZ) IS NULL THEN {p(n)} END")
                else:
                    checks.append(f"CASE WHEN NULLIF({col[n]}, '') IS NULL THEN {p(n)} END")
            missing_cases.append(f"WHEN {i} THEN concat_ws(', ', {', '.join(checks)})")
        ignore_cond = "FALSE"
        if mapping.ignore_streams:
            ignore_cond += f" OR stream IN ({', '.join(p(s) for s in sorted(mapping.ignore_streams))})"
        if mapping.ignore_types:
            ignore_cond += f" OR record_type IN ({', '.join(p(s) for s in sorted(mapping.ignore_types))})"
        tpl_expr = f"CASE {' '.join(tpl_cases)} END" if tpl_cases else "CAST(NULL AS INTEGER)"
        missing_expr = f"CASE tpl {' '.join(missing_cases)} END" if missing_cases else "NULL"

        # The latest version of each object in this batch (by input order) is the one mapped. Most batches
        # hold each object once, so the (sorting) window runs only when some object_id repeats.
        repeated = con.execute(
            "SELECT count(*) FROM (SELECT object_id FROM input_records GROUP BY object_id HAVING count(*) > 1)"
        ).fetchone()[0]
        latest = ("(SELECT *, row_number() OVER (PARTITION BY object_id ORDER BY ord DESC) AS version_rank "
                  "FROM input_records) r WHERE version_rank = 1") if repeated else "input_records r"
        p.run(con, f"""
            CREATE TEMP TABLE m_recs AS
            SELECT *, {missing_expr} AS missing FROM (
                SELECT ord, source, stream, object_id, record_type, record_ref, quarantine_id, {values} AS v,
                       ({ignore_cond}) AND json_extract_string(fields_json, '$.quarantine.code') IS NULL
                           AS ignored, {tpl_expr} AS tpl,
                       json_extract_string(fields_json, '$.quarantine.code') AS flag_code,
                       json_extract_string(fields_json, '$.quarantine.detail') AS flag_detail
                FROM {latest}
            ) x
        """)

        # Per-record values are computed once per record (not once per entry) in m_tx.
        n_entries = max((len(t.entries) for t in mapping.templates), default=1)
        per_record: dict[str, list[str]] = {"effective_at": [], "status": [], "description": [], "metadata": [],
                                            "currency": []}
        for i, t in enumerate(mapping.templates):
            status = p(t.status_default)
            if t.status_field:
                whens = " ".join(f"WHEN {p(k)} THEN {p(v)}" for k, v in t.status_map)
                status = f"COALESCE(CASE {col[t.status_field]} {whens} END, {status})" if whens else status
            description = (f"trim({_template_sql(t.description, col, p, missing_as_empty=True)})"
                           if t.description else "NULL")
            meta_pairs = [f"{p('record_type')}, record_type"]
            meta_pairs += [f"{p(m)}, {col[m]}" for m in sorted(t.metadata)]
            per_record["effective_at"].append(
                f"WHEN {i} THEN strftime(CAST({col[t.effective_at]} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
                "'%Y-%m-%dT%H:%M:%S.%fZ')")
            per_record["status"].append(f"WHEN {i} THEN {status}")
            per_record["description"].append(f"WHEN {i} THEN {description}")
            per_record["metadata"].append(f"WHEN {i} THEN CAST(json_object({', '.join(meta_pairs)}) AS VARCHAR)")
            per_record["currency"].append(f"WHEN {i} THEN upper({col[t.currency_field]})")
        if mapping.templates:
            computed = ", ".join(f"CASE tpl {' '.join(cases)} END AS {name}" for name, cases in per_record.items())
            p.run(con, f"""
                CREATE TEMP TABLE m_tx AS
                SELECT ord, tpl, v, record_ref, quarantine_id, {src} || ':' || object_id AS external_id, {computed}
                FROM m_recs WHERE NOT ignored AND missing = '' AND flag_code IS NULL
            """)
        selects = []
        for i, t in enumerate(mapping.templates):
            for j, e in enumerate(t.entries):
                chart = mapping.accounts[e.account]
                amount = _integer_sql(col[e.amount]) + (" * -1" if e.negate else "")
                flip = "credit" if e.direction == "debit" else "debit"
                account_currency = p(chart.currency) if chart.currency else "currency"
                selects.append(f"""
                    SELECT ord * {n_entries + 1} + {j} AS line, record_ref, quarantine_id, external_id,
                        {p(mapping.ledger)} AS ledger, {_template_sql(chart.name, col, p)} AS account,
                        CASE WHEN amt < 0 THEN {p(flip)} ELSE {p(e.direction)} END AS direction,
                        CAST(NULL AS VARCHAR) AS amount, CAST(abs(amt) AS VARCHAR) AS amount_minor,
                        currency, effective_at, status, description, metadata,
                        {src} AS source, CAST(NULL AS VARCHAR) AS ledgerable_type,
                        CAST(NULL AS VARCHAR) AS ledgerable_id, CAST(NULL AS VARCHAR) AS reverses_id,
                        {p(chart.key)} AS chart_key, {account_currency} AS account_currency
                    FROM (SELECT *, {amount} AS amt FROM m_tx WHERE tpl = {i}) s
                    WHERE amt <> 0""")
        staged_cols = ", ".join(STAGED_SCHEMA.names) + ", chart_key, account_currency"
        # a record's entries on consecutive lines, also when a zero amount left one out: a replayed record
        # (quarantine_id) with a gap between its lines would be read as two groups of one external_id
        width = n_entries + 1
        dense = staged_cols.replace(
            "line", f"(line // {width}) * {width} + row_number() OVER (PARTITION BY line // {width} "
                    "ORDER BY line) - 1 AS line", 1)
        if selects:
            entries = p.run(con,
                f"SELECT {dense} FROM ({' UNION ALL '.join(selects)}) u"
            ).to_arrow_table()
        else:
            entries = pa.table({n: pa.array([], type=STAGED_SCHEMA.field(n).type) for n in STAGED_SCHEMA.names}
                               | {"chart_key": pa.array([], pa.string()),
                                  "account_currency": pa.array([], pa.string())})
        entries = entries.cast(pa.schema(list(STAGED_SCHEMA) + [("chart_key", pa.string()),
                                                                ("account_currency", pa.string())]))

        payload = ("CAST(json_object('ingest_record', json_object('source', source, 'stream', stream, "
                   "'object_id', object_id, 'record_hash', record_hash, 'record_type', record_type, "
                   "'cursor_value', cursor_value, 'record_ref', record_ref, "
                   "'fields', CAST(fields_json AS JSON), 'raw', CAST(raw_json AS JSON))) AS VARCHAR)")
        unmapped = p.run(con, f"""
            SELECT CASE WHEN flag_code IS NOT NULL THEN flag_code
                        WHEN tpl IS NULL THEN {p(UNMAPPED_RECORD_TYPE)} ELSE {p(UNMAPPED_FIELD)} END AS reason_code,
                   CASE WHEN flag_code IS NOT NULL THEN COALESCE(flag_detail, flag_code)
                        WHEN tpl IS NULL
                        THEN 'no template for record type ' || COALESCE('''' || record_type || '''', '(none)')
                             || ' of stream ' || stream || ' in ' || {p(_shown(mapping.path) if mapping.path else mapping.source)}
                        ELSE 'missing or invalid field(s) ' || missing || ' for record type ' || record_type END
                       AS reason,
                   {src} || ':' || object_id AS external_id,
                   COALESCE(record_ref, stream || ' ' || object_id) AS record_ref,
                   {payload} AS raw_payload, quarantine_id
            FROM (SELECT m.ord, m.tpl, m.missing, m.flag_code, m.flag_detail, i.*
                  FROM m_recs m JOIN input_records i ON i.ord = m.ord
                  WHERE NOT m.ignored AND (m.tpl IS NULL OR m.missing <> '' OR m.flag_code IS NOT NULL)) u
            ORDER BY ord
        """).to_arrow_table()
        con.register("staged_entries", entries)
        resolved = p.run(con, f"""
            SELECT quarantine_id, CASE WHEN ignored THEN 'ignored by the mapping' ELSE 'no non-zero amount' END
                   AS resolution
            FROM m_recs WHERE quarantine_id IS NOT NULL AND (ignored OR (tpl IS NOT NULL AND missing = ''
                  AND flag_code IS NULL AND {src} || ':' || object_id NOT IN (SELECT external_id FROM staged_entries)))
        """).to_arrow_table()
        counts = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE ignored),
                   count(*) FILTER (WHERE NOT ignored AND tpl IS NOT NULL AND missing = '' AND flag_code IS NULL)
            FROM m_recs""").fetchone()
        transactions = con.execute("SELECT count(DISTINCT external_id) FROM staged_entries").fetchone()[0]
    finally:
        con.close()
    records_n, ignored, mappable = (int(x) for x in counts)
    return MappedBatch(entries=entries, unmapped=unmapped, resolved_without_entries=resolved,
                       records=records_n, transactions=int(transactions), ignored=ignored,
                       zero=mappable - int(transactions))


def staged_rows(batch: MappedBatch) -> pa.Table:
    """The entries in the exact shape the core's ``post`` stages."""
    return batch.entries.select(STAGED_SCHEMA.names)
