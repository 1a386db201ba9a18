"""``dbt build`` of every reporting model (with all data tests and unit tests) on a DuckDB warehouse holding
1,000,000 ledger transactions (about 2.25 million entries). Targets: a full build <= 60 s, and an
incremental build after a tick of 10,000 transactions <= 10 s.

The warehouse is made the way production makes it: the deterministic generator's transactions
(``bench.generate``) posted to a DuckDB ledger store with the core's bulk ``post_batch``, then pushed to a
DuckDB warehouse file by the real sync (``ledger_pipeline.warehouse.sync_target``). That setup is not timed
and is kept in ``bench/out/dbt_build/`` for the next run. Each timed run is a fresh ``dbt build`` process
(start-up, partial parse against the manifest a ``dbt parse`` left, as in a Dagster deployment, and
every model, data test and unit test), ``--full-refresh`` so that every table is replaced; the figure is the
median of ``--repeat`` runs, with the ratio to the 60 s budget and the slowest nodes of the median run.

The tick phase works on copies of the ledger store and the built warehouse: each round posts ``--tick``
transactions (effective on the day after the generated year, one of them backdated to its generated day),
syncs them (not timed), then times a plain ``dbt build``, as the 15-minute Dagster job runs it: the
incremental models rebuild what the tick touched, the tests of ``fct_ledger_entries`` check the rows it
wrote, every other model and test runs as usual. Budget: 10 s. CPU time is the dbt process's.

Usage: ``uv run python -m bench.dbt_build [--n 1000000] [--repeat 3] [--tick 10000]``
(``BENCH_QUICK=1``: 50,000).
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
import time
from pathlib import Path

from bench.generate import bench_accounts, generate_batch
from bench.results import OUT_DIR, save
from ledger_pipeline import paths

WORK_DIR = OUT_DIR / "dbt_build"
BUDGET_S = 60.0
TICK_BUDGET_S = 10.0
CHUNK = 250_000


def build_warehouse(n: int) -> Path:
    """A DuckDB warehouse synced from a ledger of ``n`` generated transactions (reused when present)."""
    from ledger_pipeline.ledger.accounts import AccountSpec, ensure_account
    from ledger_pipeline.ledger.batch_input import normalise_entries
    from ledger_pipeline.ledger.posting import post_batch
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.store_setup import initialize_store
    from ledger_pipeline.warehouse import TargetConfig, sync_target
    from ledger_pipeline.warehouse.duckdb import DISABLED_COMPRESSION

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    warehouse = WORK_DIR / f"warehouse_{n}.duckdb"
    ready = WORK_DIR / f"warehouse_{n}.ready"
    # A kept setup is reused only if the sync wrote it as it writes now (its storage decides scan times).
    setup = f"{n} transactions; disabled compression: {DISABLED_COMPRESSION}"
    if warehouse.exists() and ready.exists() and ready.read_text() == setup:
        return warehouse
    for stale in (warehouse, WORK_DIR / f"ledger_{n}.duckdb"):
        stale.unlink(missing_ok=True)
    store = Store(f"duckdb:///{WORK_DIR / f'ledger_{n}.duckdb'}")
    initialize_store(store)
    with store.transaction() as conn:
        for account in bench_accounts():
            ensure_account(conn, "main", AccountSpec(account.name, account.normal_balance, account.currency))
    started = time.perf_counter()
    for i, start in enumerate(range(0, n, CHUNK)):
        batch = generate_batch(min(CHUNK, n - start), seed=100 + i, prefix=f"b{i}")
        result = post_batch(store, normalise_entries(batch), source=("processor", "bank", "erp")[i % 3])
        if result.quarantined:
            raise RuntimeError(f"generated batch {i} had refusals: {result.reason_counts}")
    posted = time.perf_counter() - started
    started = time.perf_counter()
    sync_target(store, TargetConfig("bench", "duckdb", {"path": str(warehouse), "schema": "main"}))
    print(f"setup: posted {n:,} transactions in {posted:.1f}s, synced in {time.perf_counter() - started:.1f}s",
          flush=True)
    ready.write_text(setup)
    return warehouse


def _dbt_env(warehouse: Path, run_dir: Path) -> dict[str, str]:
    return {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "LEDGER_DBT_TARGET": "duckdb",
           "LEDGER_WAREHOUSE_PATH": str(warehouse), "LEDGER_WAREHOUSE_SCHEMA": "main",
           "LEDGER_DBT_SCHEMA": "reporting", "DBT_LOG_PATH": str(run_dir / "logs")}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_dbt(command: str, warehouse: Path, run_dir: Path, *args: str) -> tuple[float, float, dict | None]:
    """Run ``dbt <command>`` in a fresh process; returns its wall time, its CPU time (user + system) and,
    for a build, its run_results."""
    argv = [str(Path(sys.executable).parent / "dbt"), command, *args, "--project-dir", str(paths.DBT_PROJECT_DIR),
            "--profiles-dir", str(paths.DBT_PROJECT_DIR), "--target-path", str(run_dir / "target")]
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=paths.DBT_PROJECT_DIR, env={**os.environ, **_dbt_env(warehouse, run_dir)},
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu_s() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"dbt {command} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    if command != "build":
        return elapsed, cpu, None
    return elapsed, cpu, json.loads((run_dir / "target" / "run_results.json").read_text())


def tick_batch(n: int, round_: int):
    """``n`` generated transactions effective on the day after the generated year, except the first,
    which keeps its generated (earlier) day: a backdated entry in every tick."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from bench.generate import START

    batch = generate_batch(n, seed=10_000 + round_, prefix=f"tick{round_}")
    effective = batch["effective_at"].to_numpy(zero_copy_only=False).astype("datetime64[s]")
    seconds_of_day = (effective - START).astype("int64") % 86400
    today = START + np.timedelta64(365 + round_, "D") + seconds_of_day.astype("timedelta64[s]")
    first = batch["external_id"][0].as_py()
    backdated = pc.equal(batch["external_id"], first).to_numpy(zero_copy_only=False)
    moved = np.where(backdated, effective, today)
    column = pa.array(moved, type=batch.schema.field("effective_at").type)
    return batch.set_column(batch.schema.get_field_index("effective_at"), "effective_at", column)


def tick_rounds(n: int, tick: int, repeat: int, warehouse: Path) -> list[tuple[float, float, dict]]:
    """Post ``tick`` transactions to a copy of the ledger, sync them to a copy of the built warehouse and
    time ``dbt build`` on it, ``repeat`` times."""
    from ledger_pipeline.ledger.batch_input import normalise_entries
    from ledger_pipeline.ledger.posting import post_batch
    from ledger_pipeline.ledger.store import Store
    from ledger_pipeline.warehouse import TargetConfig, sync_target

    tick_dir = WORK_DIR / "tick"
    shutil.rmtree(tick_dir, ignore_errors=True)
    tick_dir.mkdir(parents=True)
    ledger_copy, warehouse_copy = tick_dir / "ledger.duckdb", tick_dir / "warehouse.duckdb"
    shutil.copyfile(WORK_DIR / f"ledger_{n}.duckdb", ledger_copy)
    shutil.copyfile(warehouse, warehouse_copy)
    store = Store(f"duckdb:///{ledger_copy}")
    target = TargetConfig("bench", "duckdb", {"path": str(warehouse_copy), "schema": "main"})
    run_dir = WORK_DIR / "tick_run"
    run_dbt("parse", warehouse_copy, run_dir)
    rounds = []
    for i in range(repeat):
        result = post_batch(store, normalise_entries(tick_batch(tick, i)), source="processor")
        if result.quarantined:
            raise RuntimeError(f"tick {i} had refusals: {result.reason_counts}")
        sync_target(store, target)
        elapsed, cpu, results = run_dbt("build", warehouse_copy, run_dir)
        rounds.append((elapsed, cpu, results))
        print(f"tick {i + 1}: {elapsed:.1f}s (CPU {cpu:.1f}s)", flush=True)
    return rounds


def _slowest(results: dict, count: int = 6) -> list[dict]:
    return sorted(results["results"], key=lambda r: r["execution_time"], reverse=True)[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000 if os.environ.get("BENCH_QUICK") else 1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tick", type=int, default=10_000)
    args = parser.parse_args(argv)

    warehouse = build_warehouse(args.n)
    load_before = os.getloadavg()[0]
    run_dir = WORK_DIR / "run"
    parse_s, _, _ = run_dbt("parse", warehouse, run_dir)  # what Dagster's preparer does once per deployment
    print(f"dbt parse (not timed below): {parse_s:.1f}s", flush=True)
    runs = []
    for i in range(args.repeat):
        elapsed, cpu, results = run_dbt("build", warehouse, run_dir, "--full-refresh")
        runs.append((elapsed, cpu, results))
        print(f"run {i + 1}: {elapsed:.1f}s (CPU {cpu:.1f}s)", flush=True)
    load_mid = os.getloadavg()[0]
    ticks = tick_rounds(args.n, args.tick, args.repeat, warehouse)
    load_after = os.getloadavg()[0]

    def summary(rounds):
        times = [elapsed for elapsed, _, _ in rounds]
        median = statistics.median(times)
        elapsed, cpu, results = min(rounds, key=lambda run: abs(run[0] - median))
        return times, median, cpu, results

    times, median, cpu, median_results = summary(runs)
    tick_times, tick_median, tick_cpu, tick_results = summary(ticks)
    statuses = {r["status"] for r in median_results["results"]} | {r["status"] for r in tick_results["results"]}

    print()
    print(f"| dbt build, {args.n:,} transactions (DuckDB) | median of {len(times)} | runs | CPU (median run) "
          f"| budget | ratio to budget |")
    print("|---|---|---|---|---|---|")
    print(f"| full (`--full-refresh`), all {len(median_results['results'])} nodes | {median:.1f} s | "
          f"{', '.join(f'{t:.1f}' for t in times)} | {cpu:.1f} s | {BUDGET_S:.0f} s | {median / BUDGET_S:.2f}x |")
    print(f"| incremental after a {args.tick:,}-transaction tick, all {len(tick_results['results'])} nodes | "
          f"{tick_median:.1f} s | {', '.join(f'{t:.1f}' for t in tick_times)} | {tick_cpu:.1f} s | "
          f"{TICK_BUDGET_S:.0f} s | {tick_median / TICK_BUDGET_S:.2f}x |")
    print(f"\nmachine: {os.cpu_count()} cores, 1-minute load average {load_before:.1f} before the full runs, "
          f"{load_mid:.1f} before the ticks and {load_after:.1f} after (shared with other work)")
    for title, results in (("full", median_results), ("tick", tick_results)):
        print()
        print(f"| slowest nodes ({title}, median run) | seconds |")
        print("|---|---|")
        for node in _slowest(results):
            print(f"| {node['unique_id'].split('.', 2)[-1]} | {node['execution_time']:.2f} |")

    save("dbt_build", {
        "transactions": args.n, "runs_s": times, "median_s": median, "cpu_s": cpu, "budget_s": BUDGET_S,
        "ratio_to_budget": median / BUDGET_S, "nodes": len(median_results["results"]),
        "tick_transactions": args.tick, "tick_runs_s": tick_times, "tick_median_s": tick_median,
        "tick_cpu_s": tick_cpu, "tick_budget_s": TICK_BUDGET_S,
        "statuses": sorted(statuses), "cores": os.cpu_count(), "load_before": load_before,
        "load_before_ticks": load_mid, "load_after": load_after,
        "slowest": [{"node": n["unique_id"], "s": n["execution_time"]} for n in _slowest(median_results, 10)],
        "slowest_tick": [{"node": n["unique_id"], "s": n["execution_time"]} for n in _slowest(tick_results, 10)],
    })
    ok = median <= BUDGET_S and tick_median <= TICK_BUDGET_S and statuses <= {"success", "pass", "no-op"}
    if not ok:
        print(f"\nmissed: full median {median:.1f}s (budget {BUDGET_S:.0f}s), tick median {tick_median:.1f}s "
              f"(budget {TICK_BUDGET_S:.0f}s), statuses {sorted(statuses)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
