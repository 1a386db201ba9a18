"""Bulk posting vs ledger-cli, PostgreSQL bulk posting, and concurrent single-transaction writes.

One run measures, side by side on the same generated data (``bench.generate``):

* DuckDB: a fresh embedded store, then ``post_batch_file`` of the Parquet file of N transactions (all rules,
  balances and audit included), end to end;
* ledger-cli (Debian package ``ledger``): ``ledger -f journal balance`` on the same transactions;
* PostgreSQL: the same bulk post into a fresh database;
* PostgreSQL: 8 threads, each with its own connection, posting single transactions (``LedgerWriter.post``);
* the write floor on each engine (``bench.write_floor``): only the rows the post leaves, written with nothing
  checked. The targets are ratios to it and to ledger-cli in the same run (``_targets``): the post within a
  factor of what it must write, and faster than ledger-cli by a factor, which a faster machine does not change.

Each measurement runs in a child process so its peak RSS (``wait4``) is its own. Medians over ``--runs``.
Beside each time: the CPU seconds (user + system) of the work measured, every thread of the post process and
ledger-cli's own, and the machine's load average before and after, so that a run slowed by other processes
(CPU much lower than wall time x cores, high load) can be told apart from a slow one.
Usage: ``python -m bench.ledger_post [--n 1000000] [--runs 3] [--profile]``; ``BENCH_QUICK=1`` uses N = 50,000.
``--profile``: the DuckDB bulk post's statements, each with its wall and CPU seconds (costliest first); each
staging statement's query is also run alone with nothing stored, and the post less what storing the staged
relations took is set against the write floor: what narrower staging relations could save at most.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.results import OUT_DIR as OUT
from bench.results import save

PG_ADMIN_URL = os.environ.get("LEDGER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = os.environ.get("LEDGER_BENCH_PG_DB", "ledger_bench")  # distinct per concurrent run

# The targets are set against what a post must write (its write floor, measured in the same run) and against
# ledger-cli in the same run, not in seconds: a seconds target depends on the machine, and the first ones
# (200,000 tx/s on DuckDB, 10x ledger-cli, 50,000 tx/s on PostgreSQL) lay below the floor on this one.
TARGET_DUCKDB_OVER_FLOOR = 1.6  # post / write floor, at most
TARGET_RATIO_VS_LEDGER = 2.0  # ledger-cli's seconds / the DuckDB post's, at least
TARGET_RSS_MB = 1536
TARGET_PG_OVER_FLOOR = 1.8
TARGET_PG_SINGLE_TPS = 1_000


def _run_child(args: list[str]) -> tuple[dict, float]:
    """Run a worker; return its JSON output, with the load average before and after it, and the peak RSS in
    MB it reports for itself (VmHWM)."""
    load = _loadavg()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({proc.returncode}): {stderr[-2000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    data.update(load_before=load, load_after=_loadavg())
    return data, float(data.get("rss_mb", 0.0))


def _loadavg() -> str:
    """The machine's 1, 5 and 15 minute load averages (empty where ``/proc`` has none)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def _cpu_seconds(who: int) -> tuple[float, float]:
    """User and system CPU seconds so far of this process (every thread) or its waited-for children."""
    usage = resource.getrusage(who)
    return usage.ru_utime, usage.ru_stime


def _cpu_since(before: tuple[float, float], who: int) -> dict:
    user, system = _cpu_seconds(who)
    return {"user_s": user - before[0], "sys_s": system - before[1]}


# The staging statements (``INSERT INTO <relation> SELECT ...``) whose query the profile also runs alone,
# every column computed and nothing stored (``count(COLUMNS(*))``), to tell computing a relation from storing it.
_STAGING_RELATIONS = ("batch_entries", "batch_txs", "batch_violations")


def _profiled(engine_cls) -> list[dict]:
    """Record every statement ``engine_cls`` runs from now on: its wall and CPU seconds (``process_time``:
    every thread of this process, so DuckDB's parallel work counts). A staging statement
    (``_STAGING_RELATIONS``) is first run as its query alone, nothing stored, and that run's seconds are
    recorded beside it (``compute_wall_s``, ``compute_cpu_s``). Returns the list it fills."""
    records: list[dict] = []
    originals = {name: getattr(engine_cls, name) for name in ("execute", "fetch_all", "fetch_dicts", "fetch_arrow")}

    def wrap(method):
        def timed(self, conn, sql, *args, **kwargs):
            head = sql.lstrip()
            relation = next((r for r in _STAGING_RELATIONS if head.startswith(f"INSERT INTO {r}")), None)
            record: dict = {"sql": " ".join(sql.split())[:110]}
            if relation is not None:
                query = f"SELECT count(COLUMNS(*)) FROM ({head[len(f'INSERT INTO {relation}'):]}) q"
                wall, cpu = time.perf_counter(), time.process_time()
                originals["fetch_all"](self, conn, query, *args, **kwargs)
                record.update(compute_wall_s=time.perf_counter() - wall, compute_cpu_s=time.process_time() - cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(self, conn, sql, *args, **kwargs)
            finally:
                records.append(record | {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu})
        return timed

    for name, method in originals.items():
        setattr(engine_cls, name, wrap(method))
    return records


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


def worker_bulk(engine: str, parquet: str, profile: bool = False, without_index: str = "") -> dict:
    """``post_batch_file`` into a fresh store; ``without_index``: ``bench.write_floor.alter_index`` first."""
    from bench.write_floor import server_cpu_seconds
    from ledger_pipeline.ledger.posting import post_batch_file

    store = _fresh_store(engine)
    if without_index:
        from bench.write_floor import alter_index

        alter_index(store, without_index)
    statements = _profiled(type(store.engine)) if profile else None
    cpu = _cpu_seconds(resource.RUSAGE_SELF)
    server_cpu = server_cpu_seconds()
    started = time.perf_counter()
    result = post_batch_file(store, parquet, actor="bench")
    seconds = time.perf_counter() - started
    output = {"seconds": seconds, "created": result.created, "quarantined": result.quarantined,
              "entries": result.entries_posted, "rss_mb": _self_rss_mb(), **_cpu_since(cpu, resource.RUSAGE_SELF)}
    if store.is_postgres:  # the store keeps its connection, so its backend is among them at the end
        output["server_cpu_s"] = server_cpu_seconds() - server_cpu
    if statements is not None:
        output["statements"] = statements
    return output


def worker_floor(engine: str, parquet: str, ids: str = "uuid", without_index: str = "") -> dict:
    """``write_floor``: only the rows the bulk post leaves, written into a fresh store set up like its."""
    from bench.write_floor import write_floor

    store = _fresh_store(engine, "floor_store.duckdb")
    cpu = _cpu_seconds(resource.RUSAGE_SELF)
    stats: dict = {}
    seconds = write_floor(store, Path(parquet), OUT, ids, stats, without_index or None)
    return {"seconds": seconds, "rss_mb": _self_rss_mb(), **_cpu_since(cpu, resource.RUSAGE_SELF), **stats}


def worker_concurrent(writers: int, per_writer: int) -> dict:
    from bench.generate import bench_accounts
    from ledger_pipeline.ledger.posting import EntryInput, TransactionInput, open_writer

    store = _fresh_store("postgres")
    cpu = _cpu_seconds(resource.RUSAGE_SELF)
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
    return {"seconds": seconds, "created": writers * per_writer, "rss_mb": _self_rss_mb(),
            **_cpu_since(cpu, resource.RUSAGE_SELF)}


def _ledger_cli(journal: Path) -> dict:
    """Time ``ledger balance``, its CPU seconds (its rusage, the only child waited for meanwhile) and its peak
    RSS from GNU time when present."""
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
    load = _loadavg()
    started = time.perf_counter()
    time_bin = "/usr/bin/time"  # GNU time (Debian package ``time``); the shell builtin cannot report RSS
    rss = 0
    if Path(time_bin).exists():
        proc = subprocess.run([time_bin, "-f", "MAXRSS_KB=%M", "ledger", "-f", str(journal), "balance"],
                              capture_output=True, text=True, check=True)
        rss = next((int(x.split("=")[1]) for x in proc.stderr.split() if x.startswith("MAXRSS_KB=")), 0)
    else:
        subprocess.run(["ledger", "-f", str(journal), "balance"], capture_output=True, check=True)
    return {"seconds": time.perf_counter() - started, "rss_mb": rss / 1024, "load_before": load,
            "load_after": _loadavg(), **_cpu_since(cpu, resource.RUSAGE_CHILDREN)}


def _median(runs: list[dict], key: str) -> float:
    """The median of ``key`` over ``runs``; ``cpu_s`` is user + system seconds."""
    if key == "cpu_s":
        return statistics.median(r["user_s"] + r["sys_s"] for r in runs)
    return statistics.median(r[key] for r in runs)


def _row(what: str, runs: list[dict], n: int, rss: str = "") -> list[str]:
    """A table row: median seconds and CPU seconds, throughput, and the load averages of the median run."""
    seconds = _median(runs, "seconds")
    median_run = min(runs, key=lambda r: abs(r["seconds"] - seconds))
    load = f"{median_run.get('load_before', '')} -> {median_run.get('load_after', '')}"
    return [what, f"{seconds:.2f}", f"{_median(runs, 'cpu_s'):.2f}", f"{n / seconds:,.0f}", rss, load]


def _print_profile(statements: list[dict], top: int = 15) -> tuple[float, float]:
    """The costliest statements of one post by CPU seconds, to stderr, a staging statement with the seconds
    of its query computed alone beside it; returns the wall seconds of the staging statements and of their
    queries computed alone."""
    total = sum(s["cpu_s"] for s in statements)
    print(f"statements: {len(statements)}, CPU {total:.2f} s; costliest:", file=sys.stderr)
    for s in sorted(statements, key=lambda s: -s["cpu_s"])[:top]:
        alone = (f"  (computed alone: cpu {s['compute_cpu_s']:5.2f} wall {s['compute_wall_s']:5.2f})"
                 if "compute_wall_s" in s else "")
        print(f"  cpu {s['cpu_s']:6.2f}  wall {s['wall_s']:6.2f}  {s['sql']}{alone}", file=sys.stderr)
    staging = [s for s in statements if "compute_wall_s" in s]
    stored, computed = sum(s["wall_s"] for s in staging), sum(s["compute_wall_s"] for s in staging)
    print(f"staging statements: {stored:.2f} s wall, their queries computed alone {computed:.2f} s",
          file=sys.stderr)
    return stored, computed


def _targets(results: dict) -> list[tuple[str, str, bool]]:
    """Each target of the run: what it asks, what was measured, and whether it is met."""
    duck, floor = results["duckdb"]["median_s"], results["duckdb_floor"]["median_s"]
    targets = [(f"DuckDB post / write floor <= {TARGET_DUCKDB_OVER_FLOOR}x", f"{duck / floor:.2f}x "
                f"({duck:.2f} / {floor:.2f} s)", duck / floor <= TARGET_DUCKDB_OVER_FLOOR),
               (f"DuckDB post peak RSS <= {TARGET_RSS_MB} MB", f"{results['duckdb']['peak_rss_mb']:,.0f} MB",
                results["duckdb"]["peak_rss_mb"] <= TARGET_RSS_MB)]
    ledger = results.get("ledger_cli")
    targets.append((f"DuckDB post >= {TARGET_RATIO_VS_LEDGER:.0f}x ledger-cli's speed",
                    f"{ledger['ratio']:.2f}x ({ledger['median_s']:.2f} / {duck:.2f} s)" if ledger
                    else "ledger-cli not installed", bool(ledger) and ledger["ratio"] >= TARGET_RATIO_VS_LEDGER))
    if "postgres_floor" in results:
        post, pg_floor = results["postgres_bulk"]["seconds"], results["postgres_floor"]["seconds"]
        targets.append((f"PostgreSQL bulk post / write floor <= {TARGET_PG_OVER_FLOOR}x",
                        f"{post / pg_floor:.2f}x ({post:.2f} / {pg_floor:.2f} s)", post / pg_floor <= TARGET_PG_OVER_FLOOR))
        single = results["postgres_single"]
        targets.append((f"PostgreSQL, {single['writers']} single-transaction writers >= {TARGET_PG_SINGLE_TPS:,} tx/s",
                        f"{single['tps']:,.0f} tx/s", single["tps"] >= TARGET_PG_SINGLE_TPS))
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ledger_post")
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser.add_argument("--n", type=int, default=50_000 if quick else 1_000_000)
    parser.add_argument("--runs", type=int, default=1 if quick else 3)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=100 if quick else 500)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="each statement of the DuckDB post, timed")
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
        data, _ = _run_child([*me, "--worker", "bulk", "duckdb", str(parquet), *(["--profile"] * args.profile)])
        if data["created"] != args.n:
            print(f"duckdb posted {data['created']} of {args.n}", file=sys.stderr)
            return 1
        staging = _print_profile(data.pop("statements")) if args.profile else None
        if staging is not None:  # the profiled post also ran each staging query alone: not its own time
            data["seconds"] -= staging[1]
        duck.append(data)
        print(f"run {run + 1}/{args.runs}: duckdb write floor", file=sys.stderr, flush=True)
        duck_floor.append(_run_child([*me, "--worker", "floor", "duckdb", str(parquet)])[0])
        if staging is not None:  # the post as it would be if storing the staged relations cost nothing
            free = data["seconds"] - staging[0] + staging[1]
            print(f"post {data['seconds']:.2f} s, less storing its staging {free:.2f} s = "
                  f"{free / duck_floor[-1]['seconds']:.2f}x this run's write floor ({duck_floor[-1]['seconds']:.2f} s)",
                  file=sys.stderr)
        if shutil.which("ledger"):
            print(f"run {run + 1}/{args.runs}: ledger balance", file=sys.stderr, flush=True)
            ledger.append(_ledger_cli(journal))
    results: dict = {"n": args.n, "runs": args.runs, "duckdb_runs": duck, "duckdb_floor_runs": duck_floor,
                     "ledger_cli_runs": ledger}
    rows = []
    duck_s = _median(duck, "seconds")
    duck_rss = max(r["rss_mb"] for r in duck)
    results["duckdb"] = {"median_s": duck_s, "tps": args.n / duck_s, "peak_rss_mb": duck_rss,
                         "median_cpu_s": _median(duck, "cpu_s")}
    rows.append(_row("ledger-pipeline bulk post, DuckDB", duck, args.n, f"{duck_rss:,.0f}"))
    floor_s = _median(duck_floor, "seconds")
    results["duckdb_floor"] = {"median_s": floor_s, "tps": args.n / floor_s, "median_cpu_s": _median(duck_floor, "cpu_s")}
    rows.append(_row("write floor, DuckDB: the same rows, nothing checked (`bench.write_floor`)", duck_floor, args.n))
    if ledger:
        ledger_s = _median(ledger, "seconds")
        ledger_rss = max(r["rss_mb"] for r in ledger)
        ratio = ledger_s / duck_s
        results["ledger_cli"] = {"median_s": ledger_s, "tps": args.n / ledger_s, "peak_rss_mb": ledger_rss,
                                 "ratio": ratio, "median_cpu_s": _median(ledger, "cpu_s")}
        rows.append(_row("ledger-cli `balance` (same transactions)", ledger, args.n, f"{ledger_rss:,.0f}"))
    else:
        print("ledger-cli not installed (apt-get install ledger): no side-by-side figure", file=sys.stderr)

    if not args.skip_postgres:
        pg_bulk, pg_floor, rss = [], [], 0.0
        for run in range(args.runs):  # interleaved, as on DuckDB
            print(f"run {run + 1}/{args.runs}: postgres bulk post", file=sys.stderr, flush=True)
            data, run_rss = _run_child([*me, "--worker", "bulk", "postgres", str(parquet)])
            pg_bulk.append(data)
            rss = max(rss, run_rss)
            print(f"run {run + 1}/{args.runs}: postgres write floor", file=sys.stderr, flush=True)
            pg_floor.append(_run_child([*me, "--worker", "floor", "postgres", str(parquet)])[0])
        bulk_s, pg_floor_s = _median(pg_bulk, "seconds"), _median(pg_floor, "seconds")
        results["postgres_bulk"] = {"runs": pg_bulk, "seconds": bulk_s, "tps": args.n / bulk_s, "peak_rss_mb": rss,
                                    "median_server_cpu_s": _median(pg_bulk, "server_cpu_s")}
        rows.append(_row("ledger-pipeline bulk post, PostgreSQL (CPU: the client's; the server's: "
                         f"{_median(pg_bulk, 'server_cpu_s'):.2f} s, every server process)", pg_bulk, args.n,
                         f"{rss:,.0f}"))
        results["postgres_floor"] = {"runs": pg_floor, "seconds": pg_floor_s, "tps": args.n / pg_floor_s,
                                     "median_server_cpu_s": _median(pg_floor, "server_cpu_s")}
        rows.append(_row("write floor, PostgreSQL: the same rows by COPY, nothing checked (CPU: the client's; "
                         f"the server's: {_median(pg_floor, 'server_cpu_s'):.2f} s, its backend)", pg_floor, args.n))
        single = []
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}: postgres, {args.writers} concurrent single-transaction writers",
                  file=sys.stderr, flush=True)
            single.append(_run_child([*me, "--worker", "concurrent", str(args.writers), str(args.per_writer)])[0])
        single_s = _median(single, "seconds")
        results["postgres_single"] = {"runs": single, "median_s": single_s, "tps": single[0]["created"] / single_s,
                                      "writers": args.writers}
        rows.append(_row(f"single-transaction posts, PostgreSQL, {args.writers} writers", single,
                         single[0]["created"], f"{max(r['rss_mb'] for r in single):,.0f}"))

    print(f"\n{args.n:,} transactions ({args.n * 9 // 4:,} entries approx.), median of {args.runs} run(s)\n")
    print("| what | seconds | CPU s (user+sys) | transactions/s | peak RSS MB | load average before -> after |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    targets = _targets(results)
    print("\n| target | measured | met |")
    print("|---|---|---|")
    for name, measured, met in targets:
        print(f"| {name} | {measured} | {'met' if met else 'MISSED'} |")
    results["targets"] = [{"target": name, "measured": measured, "met": met} for name, measured, met in targets]
    save("ledger_post", results)
    return 0 if all(met for _, _, met in targets) else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        kind = sys.argv[2]
        if kind == "bulk":
            rest = [a for a in sys.argv[5:] if a != "--profile"]  # [ids, without_index], as the floor takes
            output = worker_bulk(sys.argv[3], sys.argv[4], "--profile" in sys.argv[5:], *rest[1:2])
        elif kind == "floor":
            output = worker_floor(sys.argv[3], sys.argv[4], *sys.argv[5:7])
        else:
            output = worker_concurrent(int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(output))
        raise SystemExit(0)
    raise SystemExit(main(sys.argv[1:]))
