"""The write floor of a bulk post: what writing only its rows costs, with nothing checked.

A bulk post of N transactions leaves N rows in ``ledger_transactions`` and one row per entry in
``ledger_entries``, with the same kinds of values (time-ordered ids, resolved account ids, exact
amounts). The floor writes exactly those rows into a fresh store initialised like the post's, in one
database transaction, and nothing else: no staging, no rule, no balance, no audit, no quarantine, no
idempotency check. No implementation that keeps these tables can post faster than this on the same
machine, so ``bench.ledger_post`` prints it beside the post and beside the time its targets allow.

* DuckDB: two ``INSERT ... SELECT`` statements that read the Parquet file itself (the transactions are the
  file's rows grouped by ``external_id``; each entry is joined to its transaction and account).
* PostgreSQL: the same rows are rendered as CSV by DuckDB before the clock starts; the floor is the
  server's ``COPY FROM STDIN`` of both files (text ``COPY``: the server parses and indexes each row).

The id columns are the store's own, of the engine's native UUID type (DuckDB ``UUID``, PostgreSQL ``uuid``):
each id is converted from its text form on the way in, as the post's are. ``ids="text"`` writes the same rows
into text id columns instead (36 characters instead of 16 bytes, as stores kept them before migration 0010):
the store's empty tables are altered before the clock starts. ``python -m bench.write_floor [--n 200000]
[--runs 3]`` prints both floors side by side on each engine, with the CPU seconds and load average of each run.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from ledger_pipeline.ledger.ids import id_prefix
from ledger_pipeline.ledger.schema import METADATA
from ledger_pipeline.ledger.store import Store

# The id columns of the rows the floor writes (the store's UUID columns, ``schema.Id``).
ID_COLUMNS = {"ledger_transactions": ("id", "ledger_id"),
              "ledger_entries": ("id", "ledger_transaction_id", "ledger_account_id")}
# PostgreSQL's indexes on the two tables (``ledger_pipeline.ledger.schema``), for ``--indexes``.
POSTGRES_INDEXES = tuple(index.name for table in ("ledger_transactions", "ledger_entries")
                         for index in sorted(METADATA.tables[table].indexes, key=lambda i: i.name))


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


def _text_ids(store: Store) -> None:
    """Retype the id columns of the (empty) floor tables from the store's UUID type to text."""
    with store.connect() as conn, conn.transaction():
        for table, columns in ID_COLUMNS.items():
            for column in columns:
                conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT")


def alter_index(store: Store, spec: str) -> None:
    """``spec`` ``name``: drop that PostgreSQL index; ``name=column,...``: rebuild it on those columns."""
    name, _, columns = spec.partition("=")
    with store.connect() as conn, conn.transaction():
        table = conn.scalar("SELECT tablename FROM pg_indexes WHERE indexname = :n", {"n": name})
        conn.execute(f"DROP INDEX {name}")
        if columns:
            conn.execute(f"CREATE INDEX {name} ON {table} ({columns})")


def backend_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of the PostgreSQL backend ``pid`` (``pg_backend_pid()``), read from
    ``/proc`` when the server runs on this machine; NaN where it cannot be read. The client's CPU leaves out
    the server's parsing and indexing, which is most of a ``COPY``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds() -> float:
    """User + system CPU seconds so far of every PostgreSQL server process on this machine (backends, the
    checkpointer, the WAL writer: what writing rows costs the server besides the backend that sent them);
    NaN where ``/proc`` shows none. Other databases' work on the same server counts too."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, IndexError, ValueError):
            continue
        if name == "postgres":
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
            found = True
    return total / os.sysconf("SC_CLK_TCK") if found else float("nan")


def write_floor(store: Store, parquet: Path, work_dir: Path, ids: str = "uuid", stats: dict | None = None,
                without_index: str | None = None) -> float:
    """Seconds to write the rows a post of ``parquet`` (the benchmark's file: ``external_id``, ``account``,
    ``direction``, ``amount_minor``, ``currency``, ``effective_at``) leaves, into ``store``'s ledger
    ``main``, whose accounts must exist; ``ids`` ``text`` retypes the id columns first (module docstring).
    A benchmark tool: a file of another shape fails with DuckDB's binder error naming the missing column,
    and nothing is written. On PostgreSQL, ``stats`` (when given) receives the server backend's CPU seconds
    (``server_cpu_s``), and ``without_index`` names an index of the two tables to drop before the clock
    starts, to tell its upkeep."""
    import duckdb

    if ids == "text":
        _text_ids(store)
    elif ids != "uuid":
        raise ValueError(f"ids must be 'text' or 'uuid', not {ids!r}")
    if without_index:
        alter_index(store, without_index)
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
            backend = conn.scalar("SELECT pg_backend_pid()")
            server_cpu = backend_cpu_seconds(backend)
            started = time.perf_counter()
            with conn.transaction():
                for table, path in files.items():
                    with conn.raw.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, path.open("rb") as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
            seconds = time.perf_counter() - started
            if stats is not None:
                stats["server_cpu_s"] = backend_cpu_seconds(backend) - server_cpu
            return seconds
    finally:
        for path in files.values():
            path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Native-UUID and text-id floors side by side (or, with ``--indexes``, the PostgreSQL floor with every
    index of the two tables and without each one), interleaved run by run so all see the same load."""
    import argparse
    import json
    import statistics
    import sys

    from bench.generate import generate_batch, write_parquet
    from bench.ledger_post import OUT, _run_child

    parser = argparse.ArgumentParser(prog="bench.write_floor")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--indexes", action="store_true", help="PostgreSQL: the floor without each index")
    parser.add_argument("--post", action="store_true", help="with --indexes: the bulk post, not the floor")
    parser.add_argument("--index-variant", action="append", default=[],
                        help="with --indexes, instead of each index dropped: NAME (dropped) or NAME=COLUMNS (rebuilt on "
                             "those columns); repeatable")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    parquet = OUT / f"batch_{args.n}.parquet"
    if not parquet.exists():
        write_parquet(generate_batch(args.n), parquet)
    me = [sys.executable, "-m", "bench.ledger_post", "--worker", "floor"]
    if args.indexes and args.post:  # the bulk post itself, with every index and with each variant
        me[-1] = "bulk"
        variants = [("postgres", "uuid", name) for name in ("", *args.index_variant)]
    elif args.indexes:  # every index in turn, or only the variants given
        variants = [("postgres", "uuid", name) for name in ("", *(args.index_variant or POSTGRES_INDEXES))]
    else:
        engines = ["duckdb"] + ([] if args.skip_postgres else ["postgres"])
        variants = [(e, i, "") for e in engines for i in ("uuid", "text")]
    runs: dict[tuple[str, str, str], list[dict]] = {v: [] for v in variants}
    for run in range(args.runs):
        for engine, ids, dropped in variants:
            print(f"run {run + 1}/{args.runs}: {engine} {me[-1]}, {ids} ids {dropped}", file=sys.stderr, flush=True)
            runs[engine, ids, dropped].append(_run_child([*me, engine, str(parquet), ids, dropped])[0])
    print(f"\n{args.n:,} transactions, {'bulk post' if args.post else 'write floor'}, median of {args.runs}\n")
    print("| engine | ids | without index | seconds | CPU s (user+sys) | server CPU s | vs first row of engine "
          "(seconds; CPU) | load average of each run (1 min, before) |")
    print("|---|---|---|---:|---:|---:|---:|---|")

    (OUT / "write_floor.json").write_text(json.dumps({" ".join(v): r for v, r in runs.items()}, indent=2))

    def cpu(rs: list[dict]) -> float:  # the client's, plus the server backend's where measured (the floor)
        return statistics.median(r["user_s"] + r["sys_s"] + r.get("server_cpu_s", 0.0) for r in rs)

    first: dict[str, tuple[float, float]] = {}
    for engine, ids, dropped in variants:
        rs = runs[engine, ids, dropped]
        seconds = statistics.median(r["seconds"] for r in rs)
        base_s, base_cpu = first.setdefault(engine, (seconds, cpu(rs)))
        client = statistics.median(r["user_s"] + r["sys_s"] for r in rs)
        server = f"{statistics.median(r['server_cpu_s'] for r in rs):.2f}" if "server_cpu_s" in rs[0] else ""
        loads = ", ".join(r["load_before"].split()[0] for r in rs if r.get("load_before"))
        print(f"| {engine} | {ids} | {dropped or '-'} | {seconds:.2f} | {client:.2f} | {server} | "
              f"{seconds / base_s:.2f}x; {cpu(rs) / base_cpu:.2f}x | {loads} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
