"""Benchmark: pushing ledger entries to PostgreSQL.

1. Initial sync of 1,000,000 ledger entries (DuckDB store -> PostgreSQL) against a plain ``COPY`` of the
   same rows into an empty table. Target: sync throughput >= 0.8x the COPY's. The peer is generous to
   COPY: it loads the very rows the sync exports (same columns, ``raw_json`` included), already encoded as
   CSV in memory, into an empty table of the same definition (same primary key). The sync's time includes
   everything: reading the changes from the store, encoding, COPY, recording the position, commit.
2. Incremental sync of 10,000 changed entries into the 1M-row table, two kinds measured separately:
   updated rows (pending transactions posted) and new rows (new postings, the common case of a ledger).
   Target: <= 0.5 s, end to end (open the store snapshot, connect, read the window, stage, upsert, commit).

Each incremental sync also reports CPU seconds, which a loaded machine does not inflate: this process's
(``time.process_time``: reading the store, encoding) and the PostgreSQL backend's that served the sync (from
``/proc/PID/schedstat`` when the server runs on this machine; otherwise not reported).

The store is built once with the core's bulk ``post_batch`` (not timed). Each repetition of (1) loads into a
fresh schema; each repetition of (2) settles another pending batch and posts a new one (~10,000 entries each).
Usage: ``uv run python -m bench.warehouse_sync [--entries 1000000] [--repeat 3]`` (``BENCH_QUICK=1``: 100,000).
PostgreSQL: ``LEDGER_BENCH_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``), schemas ``wh_bench_*``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bench.generate import bench_accounts, generate_batch
from bench.results import load_line, save
from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
from ledger_pipeline.ledger.posting import post_batch
from ledger_pipeline.ledger.store import Store
from ledger_pipeline.store_setup import initialize_store
from ledger_pipeline.warehouse import TargetConfig, sync_target
from ledger_pipeline.warehouse.extract import read_changes, snapshot
from ledger_pipeline.warehouse.postgres import PostgresDestination
from ledger_pipeline.warehouse.tables import SQL_TYPES, TABLES_BY_NAME

PG_URL = os.environ.get("LEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
ENTRIES_PER_TX = 2.25  # bench.generate: one transaction in four has three entries
INITIAL_RATIO_TARGET = 0.8
INCREMENTAL_TARGET_S = 0.5
INCREMENTAL_ROWS = 10_000


def _staged(n_tx: int, seed: int, prefix: str, status: str) -> pa.Table:
    table = generate_batch(n_tx, seed=seed, prefix=prefix)
    table = table.set_column(table.schema.get_field_index("amount_minor"), "amount_minor",
                             pc.cast(table.column("amount_minor"), pa.string()))
    table = table.set_column(table.schema.get_field_index("effective_at"), "effective_at",
                             pc.strftime(table.column("effective_at"), "%Y-%m-%dT%H:%M:%SZ"))
    table = table.append_column("status", pa.array([status] * table.num_rows))
    return table.append_column("line", pa.array(range(1, table.num_rows + 1), pa.int64()))


def build_store(path: Path, entries: int, repeat: int) -> tuple[Store, list[pa.Table], float]:
    """A DuckDB store with ``entries`` entries, ``repeat`` batches of them pending (~10,000 entries each)."""
    store = Store(f"duckdb:///{path}")
    initialize_store(store)
    with store.transaction() as conn:
        for account in bench_accounts():
            ensure_account(conn, "main", AccountSpec(account.name, account.normal_balance, account.currency))
    pending_tx = round(INCREMENTAL_ROWS / ENTRIES_PER_TX)
    pending = [_staged(pending_tx, seed=100 + i, prefix=f"p{i}", status="pending") for i in range(repeat)]
    main_tx = round((entries - sum(p.num_rows for p in pending)) / ENTRIES_PER_TX)
    started = time.perf_counter()
    for batch in [_staged(main_tx, seed=42, prefix="tx", status="posted"), *pending]:
        result = post_batch(store, batch)
        assert result.created > 0 and not result.reason_counts, result.as_dict()
    return store, pending, time.perf_counter() - started


def plain_copy_seconds(store: Store, schema: str) -> tuple[float, int]:
    """COPY the exported entry rows (CSV already in memory) into an empty table of the same definition."""
    table = TABLES_BY_NAME["ledger_entries"]
    with snapshot(store) as (conn, watermark):
        data = read_changes(conn, table, 0, watermark, datetime.now(UTC))
    chunks = []
    for batch in data.to_batches(max_chunksize=100_000):
        buffer = io.BytesIO()
        pacsv.write_csv(pa.Table.from_batches([batch]), buffer, write_options=pacsv.WriteOptions(include_header=False))
        chunks.append(buffer.getvalue())
    columns = ", ".join(f'"{name}" {SQL_TYPES["postgres"][kind]}' for name, kind in table.all_columns)
    column_list = ", ".join(f'"{c}"' for c in table.column_names)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".ledger_entries ({columns}, PRIMARY KEY (id))')
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, \
                cur.copy(f'COPY "{schema}".ledger_entries ({column_list}) FROM STDIN WITH (FORMAT csv)') as copy:
            for chunk in chunks:
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return elapsed, data.num_rows


def _backend_cpu_s(pid: int) -> float | None:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None  # the server runs elsewhere (or in a container whose processes this one cannot see)


class MeasuredPostgres(PostgresDestination):
    """The PostgreSQL destination, noting the CPU seconds its server backend spent between open and close."""

    backend_cpu_s: float | None = None
    _cpu_at_open: float | None = None

    def open(self) -> None:
        super().open()
        self._pid = self.conn.info.backend_pid
        self._cpu_at_open = _backend_cpu_s(self._pid)

    def close(self) -> None:
        if self.conn is not None and self._cpu_at_open is not None:
            now = _backend_cpu_s(self._pid)
            self.backend_cpu_s = None if now is None else now - self._cpu_at_open
        super().close()


def measured_sync(store: Store, target: TargetConfig) -> tuple[int, float, float, float | None]:
    """One incremental sync of the entries: rows, wall seconds, this process's CPU, the server backend's CPU."""
    destination = MeasuredPostgres(target)
    cpu_before = time.process_time()
    result = sync_target(store, target, tables=["ledger_entries"], destination=destination)
    return (result.rows["ledger_entries"], result.duration_s, time.process_time() - cpu_before,
            destination.backend_cpu_s)


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000 if os.environ.get("BENCH_QUICK") else 1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    schema_prefix = f"wh_bench_{os.getpid()}"

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="wh_bench_") as tmp:
        store, pending, setup_s = build_store(Path(tmp) / "ledger.duckdb", args.entries, args.repeat)
        with store.connect() as conn:
            n_entries = int(conn.scalar("SELECT count(*) FROM ledger_entries"))

        copy_times, sync_times = [], []
        for i in range(args.repeat):
            seconds, rows = plain_copy_seconds(store, f"{schema_prefix}_copy")
            assert rows == n_entries
            copy_times.append(seconds)
            target = TargetConfig("bench", "postgres", {"url": PG_URL, "schema": f"{schema_prefix}_{i}"})
            drop_schema(target.options["schema"])
            result = sync_target(store, target, tables=["ledger_entries"])
            assert result.rows["ledger_entries"] == n_entries, result.as_dict()
            sync_times.append(result.duration_s)
            if i < args.repeat - 1:
                drop_schema(target.options["schema"])

        # incremental, on the last loaded schema (the whole table): per repetition, one sync of ~10,000 updated
        # entries (a pending batch posted) and one of ~10,000 new entries (a new batch of postings)
        # (rows, wall s, client CPU s, server CPU s) per sync
        incremental: dict[str, list[tuple[int, float, float, float | None]]] = {"updated": [], "new": []}
        pending_tx = round(INCREMENTAL_ROWS / ENTRIES_PER_TX)
        for i, batch in enumerate(pending):
            settled = post_batch(store, batch.set_column(batch.schema.get_field_index("status"), "status",
                                                         pa.array(["posted"] * batch.num_rows)))
            assert settled.transitioned > 0 and not settled.reason_counts
            incremental["updated"].append(measured_sync(store, target))
            created = post_batch(store, _staged(pending_tx, seed=200 + i, prefix=f"n{i}", status="posted"))
            assert created.created == pending_tx and not created.reason_counts
            incremental["new"].append(measured_sync(store, target))
        with store.connect() as conn:
            n_final = int(conn.scalar("SELECT count(*) FROM ledger_entries"))
        with psycopg.connect(PG_URL) as conn:
            in_warehouse = conn.execute(
                f'SELECT count(*), count(*) FILTER (WHERE status = \'pending\') FROM "{target.options["schema"]}".ledger_entries'
            ).fetchone()
        drop_schema(target.options["schema"])

    copy_median, sync_median = statistics.median(copy_times), statistics.median(sync_times)
    ratio = copy_median / sync_median
    medians = {kind: statistics.median(r[1] for r in runs) for kind, runs in incremental.items()}

    def cpu_median(runs, index):
        values = [r[index] for r in runs if r[index] is not None]
        return round(statistics.median(values), 3) if values else None

    row = {
        "entries": n_entries, "repeat": args.repeat, "setup_post_s": round(setup_s, 2),
        "plain_copy_s": [round(t, 3) for t in copy_times], "initial_sync_s": [round(t, 3) for t in sync_times],
        "plain_copy_rows_per_s": round(n_entries / copy_median), "sync_rows_per_s": round(n_entries / sync_median),
        "throughput_ratio": round(ratio, 3), "throughput_ratio_target": INITIAL_RATIO_TARGET,
        "incremental": {kind: {"rows": [r[0] for r in runs], "s": [round(r[1], 3) for r in runs],
                               "median_s": round(medians[kind], 3),
                               "client_cpu_s": [round(r[2], 3) for r in runs], "client_cpu_median_s": cpu_median(runs, 2),
                               "server_cpu_s": [None if r[3] is None else round(r[3], 3) for r in runs],
                               "server_cpu_median_s": cpu_median(runs, 3)}
                        for kind, runs in incremental.items()},
        "incremental_target_s": INCREMENTAL_TARGET_S,
        "warehouse_rows_after": int(in_warehouse[0]), "store_rows_after": n_final,
        "warehouse_pending_after": int(in_warehouse[1]),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)], "cpus": os.cpu_count(),
    }
    print("| run | entries | median (s) | runs (s) | rows/s | ratio to plain COPY | target |")
    print("|---|---:|---:|---|---:|---:|---|")
    print(f"| plain COPY (peer) | {n_entries:,} | {copy_median:.2f} | {', '.join(f'{t:.2f}' for t in copy_times)} | "
          f"{row['plain_copy_rows_per_s']:,} | 1.00 | |")
    print(f"| initial sync | {n_entries:,} | {sync_median:.2f} | {', '.join(f'{t:.2f}' for t in sync_times)} | "
          f"{row['sync_rows_per_s']:,} | {ratio:.2f} | >= {INITIAL_RATIO_TARGET} |")
    for kind, label in (("updated", "updated entries (pending -> posted)"), ("new", "new entries")):
        runs = incremental[kind]
        print(f"| incremental sync, {label} | {runs[0][0]:,} into {n_entries:,}+ | {medians[kind]:.3f} | "
              f"{', '.join(f'{r[1]:.3f}' for r in runs)} | | | <= {INCREMENTAL_TARGET_S} s |")
    for kind in ("updated", "new"):
        stats = row["incremental"][kind]
        print(f"incremental ({kind}): CPU medians: this process {stats['client_cpu_median_s']} s, "
              f"PostgreSQL backend {stats['server_cpu_median_s']} s")
    print(f"\nsetup (not timed): bulk post {setup_s:.1f} s; after the runs: warehouse {row['warehouse_rows_after']:,} "
          f"rows = store {n_final:,} rows, {row['warehouse_pending_after']} pending; 1-minute "
          f"{load_line(load_before[0])}")
    save("warehouse_sync", row)
    full_size = n_entries >= 1_000_000
    assert row["warehouse_rows_after"] == n_final
    met = ratio >= INITIAL_RATIO_TARGET and max(medians.values()) <= INCREMENTAL_TARGET_S
    if full_size and not met:
        print("target missed", file=sys.stderr)
    return 0 if met or not full_size else 1


if __name__ == "__main__":
    raise SystemExit(main())
