"""The write floor of a bulk post: what writing only its rows costs, with nothing checked.

A bulk post of N transactions leaves N rows in ``ledger_transactions`` and one row per entry in
``ledger_entries``, with the same kinds of values (time-ordered text ids, resolved account ids, exact
amounts). The floor writes exactly those rows into a fresh store initialised like the post's, in one
database transaction, and nothing else: no staging, no rule, no balance, no audit, no quarantine, no
idempotency check. No implementation that keeps these tables can post faster than this on the same
machine, so ``bench.ledger_post`` prints it beside the post and beside the time its targets allow.

* DuckDB: two ``INSERT ... SELECT`` statements that read the Parquet file itself (the transactions are the
  file's rows grouped by ``external_id``; each entry is joined to its transaction and account).
* PostgreSQL: the same rows are rendered as CSV by DuckDB before the clock starts; the floor is the
  server's ``COPY FROM STDIN`` of both files (text ``COPY``: the server parses and indexes each row).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from ledger_pipeline.ledger.ids import id_prefix
from ledger_pipeline.ledger.store import Store


class _Batch(NamedTuple):
    """What the rows of one floor write share, as one post's rows do: ledger, change position, time, and the
    id prefixes of its transactions and entries."""

    ledger_id: str
    seq: int
    now: str
    tx_prefix: str
    entry_prefix: str


def _rows_sql(parquet: Path, kind: str, b: _Batch) -> str:
    """The rows the post of ``parquet`` writes into ``ledger_transactions`` (``kind`` ``transactions``) or
    ``ledger_entries`` (``entries``), in their table's column order. Accounts come from ``accounts``
    (name, id); time-ordered ids as ``StoreEngine.id_sql`` makes them."""
    path = "'" + str(parquet.resolve()).replace("'", "''") + "'"
    ledger_id, seq, now, tx_prefix, entry_prefix = b
    batch = f"""
        WITH e AS (SELECT file_row_number + 1 AS line, * FROM read_parquet({path}, file_row_number = true)),
        tx AS (SELECT external_id, min(line) AS first_line, min(effective_at) AS effective_at FROM e
               GROUP BY external_id)"""
    if kind == "transactions":
        return f"""{batch}
        SELECT '{tx_prefix}' || printf('%08x', first_line), '{ledger_id}', external_id, 'posted', NULL,
               effective_at, TIMESTAMPTZ '{now}', NULL, TIMESTAMPTZ '{now}', TIMESTAMPTZ '{now}', NULL, NULL,
               NULL, NULL, '{{}}', md5(external_id), 'floor', 1, {seq}
        FROM tx"""
    return f"""{batch}
        SELECT '{entry_prefix}' || printf('%08x', e.line), '{tx_prefix}' || printf('%08x', tx.first_line),
               a.id, e.direction, CAST(e.amount_minor AS DECIMAL(38, 0)), e.currency, 'posted', e.effective_at,
               TIMESTAMPTZ '{now}', {seq}
        FROM e JOIN tx USING (external_id) JOIN accounts a ON a.name = e.account"""


def write_floor(store: Store, parquet: Path, work_dir: Path) -> float:
    """Seconds to write the rows a post of ``parquet`` (the benchmark's file: ``external_id``, ``account``,
    ``direction``, ``amount_minor``, ``currency``, ``effective_at``) leaves, into ``store``'s ledger
    ``main``, whose accounts must exist. A benchmark tool: a file of another shape fails with DuckDB's
    binder error naming the missing column, and nothing is written."""
    import duckdb

    with store.connect() as conn:
        ledger_id = conn.scalar("SELECT id FROM ledgers WHERE name = 'main'")
        accounts = conn.arrow("SELECT name, id FROM ledger_accounts WHERE ledger_id = :l", {"l": ledger_id})
        batch = _Batch(ledger_id, conn.change_seq(), datetime.now(UTC).isoformat(), id_prefix(), id_prefix())
    if not store.is_postgres:
        with store.connect() as conn:
            conn.raw.register("accounts", accounts)
            started = time.perf_counter()
            with conn.transaction():
                for table, kind in (("ledger_transactions", "transactions"), ("ledger_entries", "entries")):
                    conn.execute(f"INSERT INTO {table} {_rows_sql(parquet, kind, batch)}")
            return time.perf_counter() - started
    files = {table: work_dir / f"floor_{table}.csv" for table in ("ledger_transactions", "ledger_entries")}
    with duckdb.connect() as render:
        render.register("accounts", accounts)
        for path, kind in zip(files.values(), ("transactions", "entries"), strict=True):
            render.execute(f"COPY ({_rows_sql(parquet, kind, batch)}) TO '{path}' (HEADER false)")
    try:
        with store.connect() as conn:
            started = time.perf_counter()
            with conn.transaction():
                for table, path in files.items():
                    with conn.raw.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, path.open("rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
            return time.perf_counter() - started
    finally:
        for path in files.values():
            path.unlink(missing_ok=True)
