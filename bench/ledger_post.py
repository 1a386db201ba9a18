"""Bulk posting vs ledger-cli, PostgreSQL bulk posting, and concurrent single-transaction writes.

One run measures, side by side on the same generated data (``bench.generate``):

* DuckDB: a fresh embedded store, then ``post_batch_file`` of the Parquet file of N transactions (all rules,
  balances and audit included), end to end;
* ledger-cli (Debian package ``ledger``): ``ledger -f journal balance`` on the same transactions;
* PostgreSQL: the same bulk post into a fresh database;
* PostgreSQL: 8 threads, each with its own connection, posting single transactions (``LedgerWriter.post``);
* the write floor on each engine (``bench.write_floor``): only the rows the post leaves, written with nothing
  checked, and each speed target as the seconds it allows beside it.

Each measurement runs in a child process so its peak RSS (``wait4``) is its own. Medians over ``--runs``.
Usage: ``python -m bench.ledger_post [--n 1000000] [--runs 3]``; ``BENCH_QUICK=1`` uses N = 50,000.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
PG_ADMIN_URL = os.environ.get("LEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "ledger_bench"

TARGET_DUCKDB_TPS = 200_000
TARGET_RATIO_VS_LEDGER = 10.0
TARGET_RSS_MB = 1536
TARGET_PG_BULK_TPS = 50_000
TARGET_PG_SINGLE_TPS = 1_000


def _run_child(args: list[str]) -> tuple[dict, float]:
    """Run a worker; return its JSON output and the peak RSS in MB it reports for itself (VmHWM)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({proc.returncode}): {stderr[-2000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    return data, float(data.get("rss_mb", 0.0))


def _self_rss_mb() -> float:
    """This process's own peak RSS: ``VmHWM`` is reset by exec, whereas ``ru_maxrss`` keeps the peak of the
    parent that forked us (the generator, holding a million transactions) and would report that instead."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: the best available figure

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _accounts_setup(store) -> None:
    from bench.generate import bench_accounts
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account

    with store.transaction() as conn:
        for account in bench_accounts():
            ensure_account(conn, "main", AccountSpec(account.name, account.normal_balance, account.currency))


def _fresh_pg_url() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"


def _fresh_store(engine: str, duckdb_file: str = "bench_store.duckdb"):
    """An initialised store with the benchmark's accounts: a new DuckDB file ``duckdb_file`` in ``OUT``, or a
    new PostgreSQL database."""
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store

    if engine == "duckdb":
        path = OUT / duckdb_file
        for suffix in ("", ".wal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"duckdb:///{path}"
    else:
        url = _fresh_pg_url()
    store = Store(url)
    initialize_store(store)
    _accounts_setup(store)
    return store


def worker_bulk(engine: str, parquet: str) -> dict:
    from ledger_pipeline.ledger.posting import post_batch_file

    store = _fresh_store(engine)
    started = time.perf_counter()
    result = post_batch_file(store, parquet, actor="bench")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "created": result.created, "quarantined": result.quarantined,
            "entries": result.entries_posted, "rss_mb": _self_rss_mb()}


def worker_floor(engine: str, parquet: str) -> dict:
    """``write_floor``: only the rows the bulk post leaves, written into a fresh store set up like its."""
    from bench.write_floor import write_floor

    seconds = write_floor(_fresh_store(engine, "floor_store.duckdb"), Path(parquet), OUT)
    return {"seconds": seconds, "rss_mb": _self_rss_mb()}


def worker_concurrent(writers: int, per_writer: int) -> dict:
    from bench.generate import bench_accounts
    from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer

    store = _fresh_store("postgres")
    accounts = [a for a in bench_accounts() if a.currency == "USD"]
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            with open_writer(store, actor=f"bench-{worker}") as writer:
                for i in range(per_writer):
                    debit = accounts[(worker * 7 + i) % len(accounts)]
                    credit = accounts[(worker * 7 + i + 1 + i % 5) % len(accounts)]
                    writer.post(TransactionInput(
                        entries=[EntryInput(debit.name, "debit", 100 + i), EntryInput(credit.name, "credit", 100 + i)],
                        external_id=f"w{worker}-{i}",
                    ))
        except BaseException as exc:  # reported to the parent
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return {"seconds": seconds, "created": writers * per_writer, "rss_mb": _self_rss_mb()}


def _ledger_cli(journal: Path) -> tuple[float, float]:
    """Time ``ledger balance`` and read its peak RSS from GNU time when present."""
    started = time.perf_counter()
    time_bin = "/usr/bin/time"  # GNU time (Debian package ``time``); the shell builtin cannot report RSS
    if Path(time_bin).exists():
        proc = subprocess.run([time_bin, "-f", "MAXRSS_KB=%M", "ledger", "-f", str(journal), "balance"],
                              capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        rss = next((int(x.split("=")[1]) for x in proc.stderr.split() if x.startswith("MAXRSS_KB=")), 0)
        return seconds, rss / 1024
    subprocess.run(["ledger", "-f", str(journal), "balance"], capture_output=True, check=True)
    return time.perf_counter() - started, 0.0


def _print_floors(results: dict, n: int) -> None:
    """Each speed target as the seconds it allows, beside the write floor (no implementation that writes
    these rows can beat the floor on this machine) and the post itself."""
    print("\n| target | seconds allowed | write floor | post | post / floor |")
    print("|---|---:|---:|---:|---:|")
    duck, floor = results["duckdb"]["median_s"], results["duckdb_floor"]["median_s"]
    allowed = [(f"DuckDB >= {TARGET_DUCKDB_TPS:,} tx/s", n / TARGET_DUCKDB_TPS, floor, duck)]
    if "ledger_cli" in results:
        allowed.append((f"DuckDB >= {TARGET_RATIO_VS_LEDGER:.0f}x ledger-cli",
                        results["ledger_cli"]["median_s"] / TARGET_RATIO_VS_LEDGER, floor, duck))
    if "postgres_floor" in results:
        allowed.append((f"PostgreSQL >= {TARGET_PG_BULK_TPS:,} tx/s", n / TARGET_PG_BULK_TPS,
                        results["postgres_floor"]["seconds"], results["postgres_bulk"]["seconds"]))
    for name, seconds, floor_s, post_s in allowed:
        print(f"| {name} | {seconds:.2f} | {floor_s:.2f} | {post_s:.2f} | {post_s / floor_s:.2f}x |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ledger_post")
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser.add_argument("--n", type=int, default=50_000 if quick else 1_000_000)
    parser.add_argument("--runs", type=int, default=1 if quick else 3)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=100 if quick else 500)
    parser.add_argument("--skip-postgres", action="store_true")
    args, _ = parser.parse_known_args(argv)

    from bench.generate import generate_batch, write_ledger_journal, write_parquet

    OUT.mkdir(parents=True, exist_ok=True)
    parquet = OUT / f"batch_{args.n}.parquet"
    journal = OUT / f"batch_{args.n}.journal"
    if not parquet.exists() or not journal.exists():
        print(f"generating {args.n:,} transactions ...", file=sys.stderr, flush=True)
        table = generate_batch(args.n)
        write_parquet(table, parquet)
        write_ledger_journal(table, journal)

    me = [sys.executable, "-m", "bench.ledger_post"]
    duck, ledger, duck_floor = [], [], []
    for run in range(args.runs):  # interleaved, so both see the same machine load
        print(f"run {run + 1}/{args.runs}: duckdb bulk post", file=sys.stderr, flush=True)
        data, rss = _run_child([*me, "--worker", "bulk", "duckdb", str(parquet)])
        if data["created"] != args.n:
            print(f"duckdb posted {data['created']} of {args.n}", file=sys.stderr)
            return 1
        duck.append((data["seconds"], rss))
        print(f"run {run + 1}/{args.runs}: duckdb write floor", file=sys.stderr, flush=True)
        duck_floor.append(_run_child([*me, "--worker", "floor", "duckdb", str(parquet)])[0]["seconds"])
        if shutil.which("ledger"):
            print(f"run {run + 1}/{args.runs}: ledger balance", file=sys.stderr, flush=True)
            ledger.append(_ledger_cli(journal))
    results: dict = {"n": args.n, "runs": args.runs}
    rows = []
    duck_s = statistics.median(s for s, _ in duck)
    duck_rss = max(r for _, r in duck)
    results["duckdb"] = {"median_s": duck_s, "tps": args.n / duck_s, "peak_rss_mb": duck_rss}
    rows.append(["ledger-pipeline bulk post, DuckDB", f"{duck_s:.2f}", f"{args.n / duck_s:,.0f}", f"{duck_rss:,.0f}"])
    floor_s = statistics.median(duck_floor)
    results["duckdb_floor"] = {"median_s": floor_s, "tps": args.n / floor_s}
    rows.append(["write floor, DuckDB: the same rows, nothing checked (`bench.write_floor`)", f"{floor_s:.2f}",
                 f"{args.n / floor_s:,.0f}", ""])
    ok = args.n / duck_s >= TARGET_DUCKDB_TPS and duck_rss <= TARGET_RSS_MB
    if ledger:
        ledger_s = statistics.median(s for s, _ in ledger)
        ledger_rss = max(r for _, r in ledger)
        ratio = ledger_s / duck_s
        results["ledger_cli"] = {"median_s": ledger_s, "tps": args.n / ledger_s, "peak_rss_mb": ledger_rss,
                                 "ratio": ratio}
        rows.append(["ledger-cli `balance` (same transactions)", f"{ledger_s:.2f}", f"{args.n / ledger_s:,.0f}",
                     f"{ledger_rss:,.0f}"])
        ok = ok and ratio >= TARGET_RATIO_VS_LEDGER
    else:
        print("ledger-cli not installed (apt-get install ledger): no side-by-side figure", file=sys.stderr)
        ok = False

    if not args.skip_postgres:
        print("postgres bulk post", file=sys.stderr, flush=True)
        data, rss = _run_child([*me, "--worker", "bulk", "postgres", str(parquet)])
        results["postgres_bulk"] = {"seconds": data["seconds"], "tps": args.n / data["seconds"], "peak_rss_mb": rss}
        rows.append(["ledger-pipeline bulk post, PostgreSQL", f"{data['seconds']:.2f}",
                     f"{args.n / data['seconds']:,.0f}", f"{rss:,.0f}"])
        ok = ok and args.n / data["seconds"] >= TARGET_PG_BULK_TPS
        print("postgres write floor", file=sys.stderr, flush=True)
        pg_floor = _run_child([*me, "--worker", "floor", "postgres", str(parquet)])[0]["seconds"]
        results["postgres_floor"] = {"seconds": pg_floor, "tps": args.n / pg_floor}
        rows.append(["write floor, PostgreSQL: the same rows by COPY, nothing checked", f"{pg_floor:.2f}",
                     f"{args.n / pg_floor:,.0f}", ""])
        print(f"postgres: {args.writers} concurrent single-transaction writers", file=sys.stderr, flush=True)
        data, rss = _run_child([*me, "--worker", "concurrent", str(args.writers), str(args.per_writer)])
        tps = data["created"] / data["seconds"]
        results["postgres_single"] = {"seconds": data["seconds"], "tps": tps, "writers": args.writers}
        rows.append([f"single-transaction posts, PostgreSQL, {args.writers} writers", f"{data['seconds']:.2f}",
                     f"{tps:,.0f}", f"{rss:,.0f}"])
        ok = ok and tps >= TARGET_PG_SINGLE_TPS

    print(f"\n{args.n:,} transactions ({args.n * 9 // 4:,} entries approx.), median of {args.runs} run(s)\n")
    print("| what | seconds | transactions/s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if "ledger_cli" in results:
        print(f"\nDuckDB bulk post vs ledger-cli: {results['ledger_cli']['ratio']:.1f}x faster "
              f"(target >= {TARGET_RATIO_VS_LEDGER:.0f}x)")
    _print_floors(results, args.n)
    print(f"targets: DuckDB >= {TARGET_DUCKDB_TPS:,} tx/s and <= {TARGET_RSS_MB} MB RSS; PostgreSQL bulk >= "
          f"{TARGET_PG_BULK_TPS:,} tx/s; single >= {TARGET_PG_SINGLE_TPS:,} tx/s -> {'met' if ok else 'NOT met'}")
    (OUT / "ledger_post.json").write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind = sys.argv[2]
        if kind == "bulk":
            output = worker_bulk(sys.argv[3], sys.argv[4])
        elif kind == "floor":
            output = worker_floor(sys.argv[3], sys.argv[4])
        else:
            output = worker_concurrent(int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(output))
        raise SystemExit(0)
    raise SystemExit(main(sys.argv[1:]))
